"""What a Seedance 1.0 Pro Fast video costs at fal, from fal's published pricing.

fal prices this endpoint in video tokens: tokens = width × height × fps × seconds / 1024,
at a rate per million tokens kept in settings.FAL_PRICING (with its source and date).
A 1080p 16:9 5 s video is 1920 × 1080 × 24 × 5 / 1024 = 243,000 tokens = $0.243,
which matches fal's "roughly $0.243" for that case.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from . import seedance

CENT_PRECISION = Decimal("0.0001")
SHORT_SIDE = {"480p": 480, "720p": 720, "1080p": 1080}
RATIOS = {"21:9": (21, 9), "16:9": (16, 9), "4:3": (4, 3), "1:1": (1, 1), "3:4": (3, 4), "9:16": (9, 16)}


def nearest_aspect_ratio(width: int, height: int) -> str:
    """The allowed ratio closest to an image's own shape (what `auto` resolves to)."""
    target = math.log(width / height)
    return min(RATIOS, key=lambda name: abs(math.log(RATIOS[name][0] / RATIOS[name][1]) - target))


def output_size(resolution: str, aspect_ratio: str, image_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The video's width and height: the resolution is the short side, rounded to even pixels."""
    if aspect_ratio == seedance.AspectRatio.AUTO:
        aspect_ratio = nearest_aspect_ratio(*image_size) if image_size else "16:9"
    long_units, short_units = sorted(RATIOS[aspect_ratio], reverse=True)
    short = SHORT_SIDE[resolution]
    long = 2 * round(short * long_units / short_units / 2)
    landscape = RATIOS[aspect_ratio][0] >= RATIOS[aspect_ratio][1]
    return (long, short) if landscape else (short, long)


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
    width, height = output_size(resolution, aspect_ratio, image_size)
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
