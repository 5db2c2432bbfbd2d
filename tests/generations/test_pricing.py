from decimal import Decimal

import pytest

from generations import pricing, seedance

# Seedance 1.0's published output sizes (issue 11, docs/fal-contract.md), every cell.
TABLE = {
    "480p": {"16:9": (864, 480), "4:3": (736, 544), "1:1": (640, 640), "3:4": (544, 736), "9:16": (480, 864),
             "21:9": (960, 416)},
    "720p": {"16:9": (1248, 704), "4:3": (1120, 832), "1:1": (960, 960), "3:4": (832, 1120), "9:16": (704, 1248),
             "21:9": (1504, 640)},
    "1080p": {"16:9": (1920, 1088), "4:3": (1664, 1248), "1:1": (1440, 1440), "3:4": (1248, 1664),
              "9:16": (1088, 1920), "21:9": (2176, 928)},
}  # fmt: skip
CELLS = [(res, ratio, size) for res, row in TABLE.items() for ratio, size in row.items()]


@pytest.mark.parametrize(("resolution", "aspect", "size"), CELLS)
def test_output_sizes_follow_the_published_table(resolution, aspect, size):
    assert seedance.output_size(resolution, aspect) == size


@pytest.mark.parametrize(("resolution", "aspect", "size"), CELLS)
def test_estimate_is_tokens_of_the_table_size_at_24_fps(resolution, aspect, size):
    width, height = size
    tokens = int(width * height * 24 * 5 / 1024)
    expected = (Decimal(tokens) / Decimal(1_000_000)).quantize(Decimal("0.0001"))
    assert pricing.estimate(resolution=resolution, aspect_ratio=aspect, duration=5) == expected


def test_ratios_differ_in_price_as_published():
    # 1080p 5 s: 244,800 (16:9), 243,360 (4:3), 243,000 (1:1), 236,640 (21:9) tokens; the old
    # "short side = resolution" sizes were 44 % cheap for 1:1 and 35 % dear for 21:9.
    prices = {
        r: pricing.estimate(resolution="1080p", aspect_ratio=r, duration=5) for r in ("16:9", "4:3", "1:1", "21:9")
    }
    assert prices == {
        "16:9": Decimal("0.2448"),
        "4:3": Decimal("0.2434"),
        "1:1": Decimal("0.2430"),
        "21:9": Decimal("0.2366"),
    }


def test_auto_takes_the_nearest_ratio_of_the_image():
    assert seedance.output_size("480p", "auto", (1000, 872)) == (640, 640)  # 1.15 is nearer 1:1 than 4:3
    assert seedance.output_size("480p", "auto", (451, 300)) == (736, 544)  # 1.5 → 4:3 (nearest on a log scale)
    assert seedance.output_size("720p", "auto", (600, 1100)) == (704, 1248)  # portrait → 9:16
    assert seedance.output_size("720p", "auto", (2100, 900)) == (1504, 640)  # 2.33 → 21:9
    assert seedance.output_size("720p", "auto") == (1248, 704)  # no image: 16:9


def test_price_scales_with_duration():
    five = pricing.estimate(resolution="480p", aspect_ratio="16:9", duration=5)
    ten = pricing.estimate(resolution="480p", aspect_ratio="16:9", duration=10)
    assert abs(ten - five * 2) <= Decimal("0.0001")  # tokens are whole numbers
    assert five == Decimal("0.0486")  # 864*480*24*5/1024 = 48,600 tokens


def test_actual_price_is_from_the_measured_video(settings):
    assert pricing.actual(width=1920, height=1080, seconds=5.0) == Decimal("0.2430")
    settings.FAL_PRICING = {**settings.FAL_PRICING, "usd_per_million_tokens": "2.5"}
    assert pricing.actual(width=1920, height=1080, seconds=5.0) == Decimal("0.6075")
