"""The fal model this app drives, and its input schema.

Seedance 1.0 Pro Fast, image-to-video: `fal-ai/bytedance/seedance/v1/pro/fast/image-to-video`.
Choices and defaults follow the model's published schema; keep them in this one place.
"""

import math

from django.db import models

MODEL_ID = "fal-ai/bytedance/seedance/v1/pro/fast/image-to-video"


class AspectRatio(models.TextChoices):
    R21_9 = "21:9", "21:9 (cinema)"
    R16_9 = "16:9", "16:9 (landscape)"
    R4_3 = "4:3", "4:3"
    R1_1 = "1:1", "1:1 (square)"
    R3_4 = "3:4", "3:4"
    R9_16 = "9:16", "9:16 (portrait)"
    AUTO = "auto", "auto (from the image)"


class Resolution(models.TextChoices):
    P480 = "480p", "480p"
    P720 = "720p", "720p"
    P1080 = "1080p", "1080p"


DEFAULT_ASPECT_RATIO = AspectRatio.AUTO
DEFAULT_RESOLUTION = Resolution.P1080
MIN_DURATION = 2
MAX_DURATION = 12
DEFAULT_DURATION = 5
DURATION_CHOICES = [(n, f"{n} s") for n in range(MIN_DURATION, MAX_DURATION + 1)]
DEFAULT_CAMERA_FIXED = False
DEFAULT_ENABLE_SAFETY_CHECKER = True

# fal takes -1 for "random"; we store random as NULL. Seedance takes (and may return)
# any unsigned 32-bit seed (docs/fal-contract.md, "Seeds").
RANDOM_SEED = -1
MAX_SEED = 2**32 - 1

PROMPT_MAX_LENGTH = 2000

# Seedance 1.0's output sizes (width, height) at 24 fps, by resolution and aspect ratio:
# what fal renders and bills (docs/fal-contract.md, "Output sizes"). `auto` takes the
# ratio nearest the source image's.
OUTPUT_FPS = 24
OUTPUT_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {
        "16:9": (864, 480),
        "4:3": (736, 544),
        "1:1": (640, 640),
        "3:4": (544, 736),
        "9:16": (480, 864),
        "21:9": (960, 416),
    },
    "720p": {
        "16:9": (1248, 704),
        "4:3": (1120, 832),
        "1:1": (960, 960),
        "3:4": (832, 1120),
        "9:16": (704, 1248),
        "21:9": (1504, 640),
    },
    "1080p": {
        "16:9": (1920, 1088),
        "4:3": (1664, 1248),
        "1:1": (1440, 1440),
        "3:4": (1248, 1664),
        "9:16": (1088, 1920),
        "21:9": (2176, 928),
    },
}
RATIO_VALUES = {"21:9": 21 / 9, "16:9": 16 / 9, "4:3": 4 / 3, "1:1": 1.0, "3:4": 3 / 4, "9:16": 9 / 16}


def nearest_aspect_ratio(width: int, height: int) -> str:
    """The allowed ratio closest to an image's own shape (what `auto` resolves to)."""
    target = math.log(width / height)
    return min(RATIO_VALUES, key=lambda name: abs(math.log(RATIO_VALUES[name]) - target))


def output_size(resolution: str, aspect_ratio: str, image_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The video's (width, height) from the published table; `auto` needs the image's size (16:9 without)."""
    if aspect_ratio == AspectRatio.AUTO:
        aspect_ratio = nearest_aspect_ratio(*image_size) if image_size else AspectRatio.R16_9
    return OUTPUT_SIZES[resolution][aspect_ratio]
