"""Inspecting uploaded image bytes: is it an image we accept, and what is it?

Pure functions over bytes (no database, no storage), so every refusal can be
tested on its own and gives the same message through every entry point (the
gallery's upload, `import_images`, `generate --image`).

Decisions:
- Only still JPEG, PNG and WebP images: fal's model animates one still image. Animated
  images (GIF, APNG, animated WebP) are refused rather than silently cut to their first
  frame, which the uploader may not expect; still GIFs are refused as a format (256
  colours make a poor source). A multi-picture JPEG (MPO, e.g. a camera's depth or
  preview frame) is a JPEG: its first picture is the photo.
- A JPEG (or PNG/WebP) whose EXIF says "rotated" is stored upright, re-encoded, because
  fal and video players ignore EXIF orientation and the video would come out sideways.
  The SHA-256 that deduplicates is that of the stored bytes (the upright re-encode), so
  it always describes the file in storage; the same rotated upload twice still dedupes
  (the re-encode is deterministic). The colour profile and the rest of the EXIF are kept.
- The file name's extension must match the content (a PNG named .jpg is refused): the
  name is never used for storage, but a mismatch means a mislabelled or disguised file.
- Size: at most settings.SOURCE_IMAGE_MAX_BYTES (20 MB), and nothing past one byte more
  is ever read. Pixels: at most MAX_PIXELS (100 megapixels), checked from the header before
  any pixel is decoded, so a decompression bomb (a huge pixel count in a tiny file) is
  refused cheaply; Pillow's own bomb error (past twice its 89-megapixel limit) gets the
  same "too many pixels" message. Then the whole image is decoded once, which is what
  catches a truncated pixel stream.
- Seedance's own input limits (SEEDANCE_*, below) are checked here too, the sides and the
  ratio from the header before decoding: an image Seedance would refuse is refused at the
  upload, not after it was paid for. They bind even when SOURCE_IMAGE_MAX_BYTES is set
  higher. An image already in the library that breaks one (stored before these checks)
  stays, and `seedance_problem` says why it cannot be animated (SourceImage.seedance_problem).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
from dataclasses import dataclass
from fractions import Fraction

from django.core.exceptions import ValidationError
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}
# File name extensions per accepted format (lower case); import_images picks files by these.
EXTENSIONS = {"JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"), "PNG": (".png",), "WEBP": (".webp",)}
ALL_EXTENSIONS = frozenset(ext for exts in EXTENSIONS.values() for ext in exts)
# Far above any real photo (a 100-megapixel frame is 10,000 x 10,000), far below a bomb.
MAX_PIXELS = 100_000_000
ACCEPTED_TEXT = "upload a JPEG, PNG or WebP"

# Seedance 1.0 image-to-video input limits (docs/fal-contract.md). Seedance also takes BMP,
# TIFF and still GIF; ACCEPTED_FORMATS is narrower on purpose.
SEEDANCE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"})
SEEDANCE_MIN_SIDE = 300  # pixels, each side
SEEDANCE_MAX_SIDE = 6000
SEEDANCE_MIN_RATIO = Fraction(2, 5)  # width / height: 0.4 …
SEEDANCE_MAX_RATIO = Fraction(5, 2)  # … 2.5
SEEDANCE_MAX_BYTES = 30 * 1024 * 1024  # 30 MB, in the unit SOURCE_IMAGE_MAX_BYTES and human_size use

_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")  # in Pillow's DecompressionBombError message


@dataclass(frozen=True)
class InspectedImage:
    content: bytes  # what is stored: the upload itself, or an upright re-encode
    sha256: str
    width: int
    height: int
    format: str


def inspect_image(content: bytes, *, max_bytes: int, filename: str = "", size: int | None = None) -> InspectedImage:
    """Validate an upload and describe it; raises ValidationError with a readable reason.

    `content` is the file's first max_bytes + 1 bytes; `size` its whole size when known
    (only to say how large a refused file is); `filename` the uploaded name, whose
    extension must match the content.
    """
    if not content:
        raise ValidationError("The file is empty (0 bytes).", code="empty")
    if len(content) > max_bytes:
        how_large = f"is {human_size(size)}" if size and size > max_bytes else f"is larger than {human_size(max_bytes)}"
        raise ValidationError(
            f"The file {how_large}; the largest image accepted is {human_size(max_bytes)}.", code="too_large"
        )
    _refuse_for_seedance(size_bytes=max(len(content), size or 0))
    image = _open(content)
    fmt = "JPEG" if image.format == "MPO" else image.format
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValidationError(
            f"The image has too many pixels: {width}×{height} is {width * height / 1e6:.0f} megapixels; "
            f"the most accepted is {MAX_PIXELS // 1_000_000} megapixels.",
            code="too_many_pixels",
        )
    _refuse_for_seedance(width=width, height=height)  # from the header: nothing decoded yet
    _decode(image)
    frames = getattr(image, "n_frames", 1) if image.format != "MPO" else 1
    if frames > 1 and (fmt in ACCEPTED_FORMATS or fmt == "GIF"):
        what = (
            "Animated GIFs are not accepted"
            if fmt == "GIF"
            else f"Animated images are not accepted (this {_name(fmt)} has {frames} frames)"
        )
        raise ValidationError(
            f"{what}: fal's model animates one still image. Upload a still image (JPEG, PNG or WebP).",
            code="animated",
        )
    if fmt not in ACCEPTED_FORMATS:
        raise ValidationError(f"{_name(fmt)} images are not accepted; {ACCEPTED_TEXT}.", code="format")
    _check_extension(filename, fmt)
    content, width, height = _upright(content, image, fmt, width, height)
    # An upright re-encode turns sides but keeps them (and the symmetric ratio limits);
    # its bytes may grow, though.
    _refuse_for_seedance(size_bytes=len(content))
    return InspectedImage(
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        width=width,
        height=height,
        format=fmt,
    )


def seedance_problems(
    *, width: int | None = None, height: int | None = None, fmt: str | None = None, size_bytes: int | None = None
) -> list[tuple[str, str]]:
    """Why Seedance would refuse an image with these properties, as (code, message) pairs; [] if it would not.

    Only the properties given are judged (an upload is judged by its size before it is opened).
    """
    problems = []
    if fmt is not None and fmt not in SEEDANCE_FORMATS:
        problems.append(("seedance_format", f"Seedance does not accept {_name(fmt)} images."))
    if width is not None and height is not None:
        size = f"{width}×{height} pixels"
        if min(width, height) < SEEDANCE_MIN_SIDE:
            problems.append(
                ("too_small", f"The image is {size}; Seedance needs each side to be at least {SEEDANCE_MIN_SIDE}.")
            )
        elif max(width, height) > SEEDANCE_MAX_SIDE:
            problems.append(
                ("too_wide", f"The image is {size}; Seedance accepts at most {SEEDANCE_MAX_SIDE} pixels a side.")
            )
        if height and not SEEDANCE_MIN_RATIO <= Fraction(width, height) <= SEEDANCE_MAX_RATIO:
            problems.append(
                (
                    "ratio",
                    f"The image is {size} (ratio {_ratio_text(width, height)}); Seedance accepts width/height "
                    f"between {float(SEEDANCE_MIN_RATIO):g} and {float(SEEDANCE_MAX_RATIO):g}.",
                )
            )
    if size_bytes is not None and size_bytes > SEEDANCE_MAX_BYTES:
        problems.append(
            (
                "too_large",
                f"The file is {human_size(size_bytes)}; Seedance accepts images of at most "
                f"{human_size(SEEDANCE_MAX_BYTES)}.",
            )
        )
    return problems


def _ratio_text(width: int, height: int) -> str:
    """width/height with two decimals, or as many more as it takes not to look inside the limits (0.3996, not 0.40)."""
    ratio = Fraction(width, height)
    for decimals in range(2, 7):
        text = f"{float(ratio):.{decimals}f}"
        if not SEEDANCE_MIN_RATIO <= Fraction(text) <= SEEDANCE_MAX_RATIO:
            return text
    return text


def seedance_problem(**properties) -> str:
    """seedance_problems' messages as one sentence or two; "" when Seedance would take the image."""
    return " ".join(message for _, message in seedance_problems(**properties))


def _refuse_for_seedance(**properties) -> None:
    problems = seedance_problems(**properties)
    if problems:
        raise ValidationError(" ".join(m for _, m in problems), code=problems[0][0])


def _open(content: bytes) -> Image.Image:
    """The image with its header read and its structure checked, no pixel decoded yet."""
    try:
        probe = Image.open(io.BytesIO(content))
        probe.verify()  # structure and checksums, without decoding pixels
        return Image.open(io.BytesIO(content))
    except Image.DecompressionBombError as exc:
        # Past twice Pillow's own limit (about 179 megapixels): refused before decoding.
        found = _BOMB_PIXELS.search(str(exc))
        declared = f"it declares {int(found.group(1)) / 1e6:.0f} megapixels" if found else "it declares a huge size"
        raise ValidationError(
            f"The image has too many pixels: {declared} in a {human_size(len(content))} file "
            f"(a decompression bomb?); the most accepted is {MAX_PIXELS // 1_000_000} megapixels.",
            code="too_many_pixels",
        ) from None
    except UnidentifiedImageError:
        raise ValidationError(_not_an_image(content), code="not_an_image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValidationError(f"The image is damaged or truncated ({exc}).", code="corrupt") from None


# Decoding holds width × height × 4 bytes: at most this many decodes run at once in a process,
# so parallel uploads of large images queue instead of multiplying the memory.
DECODE_SLOTS = 2
_decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)


def _decode(image: Image.Image) -> None:
    """Decode every pixel (verify() does not catch a truncated pixel stream; decoding does).

    A JPEG is decoded at 1/8 scale (its DCT allows it; every byte of the stream is still
    read), so a large photo costs a sixty-fourth of its full-size memory."""
    with _decode_slots:
        try:
            if image.format in ("JPEG", "MPO"):
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ValidationError(f"The image is damaged or truncated ({exc}).", code="corrupt") from None


def _not_an_image(content: bytes) -> str:
    """Why Pillow could not read the file, said as specifically as its first bytes allow."""
    head = content[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in content[:4096].lower()):
        return f"The file is not an image we accept: it is an SVG drawing (XML text); {ACCEPTED_TEXT}."
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return f"The file is not an image: it is an HTML page; {ACCEPTED_TEXT}."
    if content[4:12] in (b"ftypheic", b"ftypheix", b"ftyphevc", b"ftypmif1", b"ftypmsf1"):
        return "HEIC/HEIF photos are not accepted; export it as JPEG (or PNG) and upload that."
    return f"The file is not an image (or not one we can read); {ACCEPTED_TEXT}."


def _check_extension(filename: str, fmt: str) -> None:
    extension = os.path.splitext(os.path.basename(filename))[1].lower()
    if not extension or extension in EXTENSIONS[fmt]:
        return
    raise ValidationError(
        f"The file name ends in {extension} but the file is a {_name(fmt)} image; rename it to "
        f"{EXTENSIONS[fmt][0]} and upload it again (a name that does not match the content is refused).",
        code="wrong_extension",
    )


def _upright(content: bytes, image: Image.Image, fmt: str, width: int, height: int) -> tuple[bytes, int, int]:
    """The bytes to store and their size: the upload itself, or, when EXIF says rotated, an
    upright re-encode (decoded at full size for that, reopened: `image` may be a reduced decode)."""
    try:
        orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation
    except Exception:  # a damaged EXIF block: the pixels are fine, keep the file as it is
        return content, width, height
    if orientation not in (2, 3, 4, 5, 6, 7, 8):
        return content, width, height
    with _decode_slots, Image.open(io.BytesIO(content)) as full:
        full.load()
        upright = ImageOps.exif_transpose(full)
        buffer = io.BytesIO()
        save_kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        # Keep the colour profile and the rest of the EXIF (exif_transpose removed the orientation).
        for key in ("icc_profile", "exif"):
            if upright.info.get(key):
                save_kwargs[key] = upright.info[key]
        upright.save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue(), upright.width, upright.height


def _name(fmt: str) -> str:
    return FORMAT_NAMES.get(fmt, fmt)


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
