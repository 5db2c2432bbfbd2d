from decimal import Decimal

import pytest

from generations import pricing


@pytest.mark.parametrize(
    ("resolution", "aspect", "size"),
    [
        ("1080p", "16:9", (1920, 1080)),
        ("1080p", "9:16", (1080, 1920)),
        ("1080p", "1:1", (1080, 1080)),
        ("720p", "4:3", (960, 720)),
        ("480p", "16:9", (854, 480)),
        ("480p", "21:9", (1120, 480)),
        ("720p", "3:4", (720, 960)),
    ],
)
def test_output_sizes(resolution, aspect, size):
    assert pricing.output_size(resolution, aspect) == size


def test_auto_takes_the_nearest_ratio_of_the_image():
    assert pricing.output_size("480p", "auto", (1000, 872)) == (480, 480)  # 1.15 is nearer 1:1 than 4:3
    assert pricing.output_size("480p", "auto", (451, 300)) == (640, 480)  # 1.5 → 4:3 (nearest on a log scale)
    assert pricing.output_size("720p", "auto", (600, 1100)) == (720, 1280)  # portrait → 9:16


def test_fal_s_published_example_costs_0_243():
    assert pricing.estimate(resolution="1080p", aspect_ratio="16:9", duration=5) == Decimal("0.2430")


def test_price_scales_with_duration_and_pixels():
    five = pricing.estimate(resolution="480p", aspect_ratio="16:9", duration=5)
    ten = pricing.estimate(resolution="480p", aspect_ratio="16:9", duration=10)
    assert abs(ten - five * 2) <= Decimal("0.0001")  # tokens are whole numbers
    assert five == Decimal("0.0480")  # 854*480*24*5/1024 = 48,037 tokens


def test_actual_price_is_from_the_measured_video(settings):
    assert pricing.actual(width=1920, height=1080, seconds=5.0) == Decimal("0.2430")
    settings.FAL_PRICING = {**settings.FAL_PRICING, "usd_per_million_tokens": "2.5"}
    assert pricing.actual(width=1920, height=1080, seconds=5.0) == Decimal("0.6075")
