"""How fal gets to see a source image: an upload to fal's CDN, a presigned S3 URL, or a data URI.

`auto` picks a URL fal is sure to fetch: a presigned URL when the image already sits in
S3 (fal fetches it directly), an upload to fal's storage otherwise. Never a data URI: fal
says only some models accept them, and this one is not known to (docs/fal-contract.md).
FAL_IMAGE_TRANSPORT forces one; `data_uri` only when asked for by name, and then only for
images up to FAL_DATA_URI_MAX_BYTES (a larger one is refused, not sent another way).
"""

from __future__ import annotations

import base64

from django.conf import settings

from . import fal_gateway
from .models import SourceImage

MODES = ("auto", "upload", "presigned", "data_uri")
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# fal may keep a request queued for a long time before a runner fetches the image.
PRESIGNED_URL_LIFETIME = 6 * 3600


def _storage_is_s3(image: SourceImage) -> bool:
    return hasattr(image.file.storage, "bucket_name")


def choose_mode(image: SourceImage) -> str:
    mode = settings.FAL_IMAGE_TRANSPORT
    if mode not in MODES:
        raise ValueError(f"FAL_IMAGE_TRANSPORT must be one of {', '.join(MODES)}, not {mode!r}.")
    if mode == "presigned" and not _storage_is_s3(image):
        raise ValueError("FAL_IMAGE_TRANSPORT=presigned needs S3 storage (set AWS_STORAGE_BUCKET_NAME).")
    if mode == "data_uri" and image.size_bytes > settings.FAL_DATA_URI_MAX_BYTES:
        raise ValueError(
            f"FAL_IMAGE_TRANSPORT=data_uri sends images of at most FAL_DATA_URI_MAX_BYTES "
            f"({settings.FAL_DATA_URI_MAX_BYTES} bytes) inline; this one is {image.size_bytes} bytes. "
            "Raise that limit, or use FAL_IMAGE_TRANSPORT=auto."
        )
    if mode != "auto":
        return mode
    return "presigned" if _storage_is_s3(image) else "upload"


def image_url_for_fal(image: SourceImage) -> str:
    mode = choose_mode(image)
    if mode == "presigned":
        return image.file.storage.url(image.file.name, expire=PRESIGNED_URL_LIFETIME)
    content = _read(image)
    mime = MIME_TYPES.get(image.format, "application/octet-stream")
    if mode == "data_uri":
        return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"
    extension = mime.split("/")[-1].replace("jpeg", "jpg")
    return fal_gateway.upload(content, content_type=mime, file_name=f"{image.sha256[:16]}.{extension}")


def _read(image: SourceImage) -> bytes:
    with image.file.storage.open(image.file.name, "rb") as fh:
        return fh.read()
