"""What a Seedance 1.0 Pro Fast video costs at fal, from fal's published pricing.

fal prices this endpoint in video tokens: tokens = width × height × fps × seconds / 1024,
at a rate per million tokens kept in settings.FAL_PRICING (with its source and date).
The estimate uses Seedance's published output size for the resolution and aspect ratio
(seedance.OUTPUT_SIZES): a 1080p 16:9 5 s video is 1920 × 1088 × 24 × 5 / 1024 = 244,800
tokens = $0.2448 (fal: "roughly $0.243"); 1080p 1:1 is 1440 × 1440, not 1080 × 1080.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from . import seedance

CENT_PRECISION = Decimal("0.0001")


def video_tokens(width: int, height: int, seconds: float, fps: float | None = None) -> int:
    fps = fps or settings.FAL_PRICING["fps"]
    return int(width * height * fps * seconds / 1024)


def price_of_tokens(tokens: int) -> Decimal:
    rate = Decimal(str(settings.FAL_PRICING["usd_per_million_tokens"]))
    return (Decimal(tokens) * rate / Decimal(1_000_000)).quantize(CENT_PRECISION, rounding=ROUND_HALF_UP)


def estimate(
    *, resolution: str, aspect_ratio: str, duration: int, image_size: tuple[int, int] | None = None
) -> Decimal:
    """The price of a generation before it is sent, in US dollars."""
    width, height = seedance.output_size(resolution, aspect_ratio, image_size)
    return price_of_tokens(video_tokens(width, height, duration))


def estimate_for(params, image) -> Decimal:
    """The estimate for GenerationParams-like `params` applied to a SourceImage-like `image`."""
    return estimate(
        resolution=params.resolution,
        aspect_ratio=params.aspect_ratio,
        duration=params.duration,
        image_size=(image.width, image.height),
    )


def actual(*, width: int, height: int, seconds: float) -> Decimal:
    """The price of the video fal delivered, from its measured size and length (fal bills at 24 fps)."""
    return price_of_tokens(video_tokens(width, height, seconds))
