"""Inspecting uploaded image bytes: is it an image we accept, and what is it?

Pure functions over bytes (no database, no storage), so every refusal can be
tested on its own and gives the same message through every entry point.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
MIN_SIDE = 64
# Far above any real photo (a 100-megapixel frame is 10,000 x 10,000), far below a bomb.
MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class InspectedImage:
    content: bytes  # what is stored: the upload itself, or an upright re-encode
    sha256: str
    width: int
    height: int
    format: str


def inspect_image(content: bytes, *, max_bytes: int) -> InspectedImage:
    """Validate an upload and describe it; raises ValidationError with a readable reason.

    A JPEG whose EXIF says "rotated" is re-encoded upright, because fal and
    video players ignore EXIF orientation and the video would come out sideways.
    """
    if not content:
        raise ValidationError("The file is empty (0 bytes).", code="empty")
    if len(content) > max_bytes:
        raise ValidationError(
            f"The file is {_megabytes(len(content))}; the largest image accepted is {_megabytes(max_bytes)}.",
            code="too_large",
        )
    image = _open_verified(content)
    if image.format not in ACCEPTED_FORMATS:
        raise ValidationError(f"{image.format} images are not accepted; upload a JPEG, PNG or WebP.", code="format")
    if getattr(image, "is_animated", False):
        raise ValidationError(
            "Animated images are not accepted: the video is generated from a single still frame.", code="animated"
        )
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValidationError(
            f"The image is {width}×{height} pixels; the most accepted is {MAX_PIXELS // 1_000_000} megapixels.",
            code="too_many_pixels",
        )
    if min(width, height) < MIN_SIDE:
        raise ValidationError(
            f"The image is {width}×{height} pixels; each side must be at least {MIN_SIDE}.", code="too_small"
        )
    content, width, height = _upright(content, image)
    return InspectedImage(
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        width=width,
        height=height,
        format=image.format,
    )


def _open_verified(content: bytes) -> Image.Image:
    # Pillow raises DecompressionBombError past 2x its limit and only warns
    # between 1x and 2x; make the warning an error too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(content))
            probe.verify()  # structure and checksums, without decoding pixels
            image = Image.open(io.BytesIO(content))
            # verify() does not catch a truncated pixel stream; decoding does.
            if image.width * image.height <= MAX_PIXELS:
                image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValidationError(
                "The image declares an enormous pixel count for its file size (a decompression bomb); refused.",
                code="decompression_bomb",
            ) from None
        except UnidentifiedImageError:
            raise ValidationError("The file is not an image (or not one we can read).", code="not_an_image") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ValidationError(f"The image is damaged or truncated ({exc}).", code="corrupt") from None
    return image


def _upright(content: bytes, image: Image.Image) -> tuple[bytes, int, int]:
    orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation
    if orientation in (None, 1):
        return content, image.width, image.height
    upright = ImageOps.exif_transpose(image)
    buffer = io.BytesIO()
    save_kwargs = {"quality": 95} if image.format == "JPEG" else {}
    upright.save(buffer, format=image.format, **save_kwargs)
    return buffer.getvalue(), upright.width, upright.height


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
