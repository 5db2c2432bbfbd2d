"""The fal model this app drives, and its input schema.

Seedance 1.0 Pro Fast, image-to-video: `fal-ai/bytedance/seedance/v1/pro/fast/image-to-video`.
Choices and defaults follow the model's published schema; keep them in this one place.
"""

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
