"""The endpoint's input schema, checked the way fal's pydantic model would, and the image download.

Errors come out as fal's 422 detail items: `{"loc": ["body", field], "msg", "type", ...}`.
Like fal, the simulator accepts any submit and only reports these when the result
is fetched (status COMPLETED with an error, then 422 on the result route).
"""

from __future__ import annotations

import base64
import binascii
import io
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image, UnidentifiedImageError

ASPECT_RATIOS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16", "auto")
RESOLUTIONS = ("480p", "720p", "1080p")
DURATIONS = tuple(str(n) for n in range(2, 13))
FPS = 24
MAX_IMAGE_BYTES = 50 * 1024 * 1024
ERRORS_URL = "https://docs.fal.ai/errors"


@dataclass(frozen=True)
class VideoParams:
    prompt: str
    image_url: str
    aspect_ratio: str = "auto"
    resolution: str = "1080p"
    duration: int = 5
    num_frames: int = 5 * FPS
    camera_fixed: bool = False
    seed: int | None = None  # None: pick one at random
    enable_safety_checker: bool = True


def _literal_msg(choices: tuple[str, ...]) -> str:
    quoted = [f"'{c}'" for c in choices]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _echo(value: Any) -> Any:
    # fal echoes the bad input; a multi-megabyte data URI is shortened rather than echoed whole.
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "..."
    return value


def error_item(
    field: str | None, msg: str, type_: str, value: Any = None, *, ctx: dict | None = None, url: bool = False
) -> dict:
    item: dict[str, Any] = {"loc": ["body", field] if field else ["body"], "msg": msg, "type": type_}
    if value is not None:
        item["input"] = _echo(value)
    if ctx:
        item["ctx"] = ctx
    if url:
        item["url"] = f"{ERRORS_URL}#{type_}"
    return item


def _bool(field: str, value: Any, errors: list) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        return value.lower() in ("true", "1", "yes", "on")
    errors.append(error_item(field, "Input should be a valid boolean", "bool_type", value))
    return None


def _int(field: str, value: Any, errors: list) -> int | None:
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        return value
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    elif isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    errors.append(error_item(field, "Input should be a valid integer", "int_parsing", value))
    return None


def _choice(field: str, value: Any, choices: tuple[str, ...], errors: list) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # duration 5 -> "5", as lax pydantic would for an int
    if isinstance(value, str) and value in choices:
        return value
    errors.append(
        error_item(
            field,
            f"Input should be {_literal_msg(choices)}",
            "literal_error",
            value,
            ctx={"expected": _literal_msg(choices)},
        )
    )
    return None


def validate(arguments: Any) -> tuple[VideoParams | None, list[dict]]:
    """The normalised parameters, or None and the 422 detail items."""
    if not isinstance(arguments, dict):
        return None, [error_item(None, "Input should be a valid dictionary", "dict_type", arguments)]
    errors: list[dict] = []
    prompt = arguments.get("prompt")
    if "prompt" not in arguments or prompt is None:
        errors.append(error_item("prompt", "Field required", "missing"))
    elif not isinstance(prompt, str):
        errors.append(error_item("prompt", "Input should be a valid string", "string_type", prompt))
    elif not prompt.strip():
        errors.append(
            error_item(
                "prompt", "String should have at least 1 character", "string_too_short", prompt, ctx={"min_length": 1}
            )
        )
    image_url = arguments.get("image_url")
    if "image_url" not in arguments or image_url is None:
        errors.append(error_item("image_url", "Field required", "missing"))
    elif not isinstance(image_url, str) or not image_url.strip():
        errors.append(error_item("image_url", "Input should be a valid URL", "url_parsing", image_url))
    aspect = _choice("aspect_ratio", arguments.get("aspect_ratio", "auto"), ASPECT_RATIOS, errors)
    resolution = _choice("resolution", arguments.get("resolution", "1080p"), RESOLUTIONS, errors)
    duration = _choice("duration", arguments.get("duration", "5"), DURATIONS, errors)
    camera_fixed = _bool("camera_fixed", arguments.get("camera_fixed", False), errors)
    safety = _bool("enable_safety_checker", arguments.get("enable_safety_checker", True), errors)
    seed = arguments.get("seed")
    if seed is not None:
        seed = _int("seed", seed, errors)
        if seed is not None and seed < -1:
            errors.append(
                error_item(
                    "seed", "Input should be greater than or equal to -1", "greater_than_equal", seed, ctx={"ge": -1}
                )
            )
    num_frames = arguments.get("num_frames")
    if num_frames is not None:
        num_frames = _int("num_frames", num_frames, errors)
        if num_frames is not None and not 1 <= num_frames <= 12 * FPS:
            errors.append(
                error_item("num_frames", f"Input should be between 1 and {12 * FPS}", "range_error", num_frames)
            )
    if errors:
        return None, errors
    seconds = int(duration)
    return VideoParams(
        prompt=prompt,
        image_url=image_url,
        aspect_ratio=aspect,
        resolution=resolution,
        duration=seconds,
        num_frames=num_frames or seconds * FPS,  # fal: "if provided, will override duration"
        camera_fixed=camera_fixed,
        seed=None if seed in (None, -1) else seed,
        enable_safety_checker=safety,
    ), []


class ImageInputError(Exception):
    """The image_url could not be used; carries fal's 422 detail item."""

    def __init__(self, item: dict):
        super().__init__(item["msg"])
        self.item = item


def _download_error(url: str, why: str) -> ImageInputError:
    return ImageInputError(
        error_item(
            "image_url",
            "Failed to download the file. Please check if the URL is accessible.",
            "file_download_error",
            url,
            ctx={"reason": why},
            url=True,
        )
    )


def _decode_data_uri(url: str) -> bytes:
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise ValueError("no comma")
    if header.endswith(";base64"):
        return base64.b64decode(payload, validate=False)
    return urllib.parse.unquote_to_bytes(payload)


def _download(url: str, ssl_context: ssl.SSLContext, timeout: float) -> bytes:
    # No environment proxies: the images the simulator sees live on loopback or in data URIs.
    client = httpx.Client(verify=ssl_context, timeout=timeout, follow_redirects=True, trust_env=False)
    try:
        with client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise _download_error(url, f"HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_IMAGE_BYTES:
                    item = error_item(
                        "image_url",
                        "File is too large.",
                        "file_too_large",
                        url,
                        ctx={"max_size": MAX_IMAGE_BYTES},
                        url=True,
                    )
                    raise ImageInputError(item)
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise _download_error(url, f"{type(exc).__name__}: {exc}") from None


def fetch_image(url: str, *, ssl_context: ssl.SSLContext, timeout: float = 20.0) -> bytes:
    """The bytes of a usable image at `url` (http, https or data:), else ImageInputError."""
    if url.startswith("data:"):
        try:
            data = _decode_data_uri(url)
        except (ValueError, binascii.Error) as exc:
            raise _download_error(url, f"bad data URI: {exc}") from None
    else:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ImageInputError(error_item("image_url", "Input should be a valid URL", "url_parsing", url))
        data = _download(url, ssl_context, timeout)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Image.DecompressionBombError as exc:
        item = error_item(
            "image_url",
            "Image dimensions are too large.",
            "image_too_large",
            url,
            ctx={"reason": str(exc)[:200]},
            url=True,
        )
        raise ImageInputError(item) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageInputError(
            error_item(
                "image_url",
                "Failed to load the image. Please ensure the image file is not corrupted and is in a supported format.",
                "image_load_error",
                url,
                ctx={"reason": str(exc)[:200]},
                url=True,
            )
        ) from None
    return data
