"""Huge images are never decoded whole (issue 12, item 7).

A 10000×9900 PNG is a few hundred bytes to send and half a gigabyte to decode. The checks
run on the header first (Seedance's 6000 px limit), the bytes are hashed before anything is
decoded (a duplicate never is), a JPEG is decoded at 1/8 scale, and at most DECODE_SLOTS
decodes run at once in a process.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from PIL import Image, ImageFile

from generations import images, services
from generations.models import SourceImage
from tests.conftest import make_image_bytes

pytestmark = pytest.mark.django_db


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG that declares width × height grey pixels and carries almost none of them."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_a_huge_png_is_refused_from_its_header_without_decoding(alice):
    bomb = png_header_only(10000, 9900)
    assert len(bomb) < 200
    with mock.patch("generations.images._decode", autospec=True) as decode, pytest.raises(ValidationError) as caught:
        services.source_image_ingest(file=io.BytesIO(bomb), filename="big.png", uploaded_by=alice)
    decode.assert_not_called()
    assert "10000×9900 pixels" in caught.value.messages[0] and "at most 6000" in caught.value.messages[0]
    assert not SourceImage.objects.exists()


def test_bytes_the_library_has_are_never_decoded_again(alice):
    content = make_image_bytes(640, 480)
    first, created = services.source_image_ingest(file=io.BytesIO(content), filename="a.png", uploaded_by=alice)
    assert created
    with mock.patch("generations.images._decode", autospec=True, side_effect=AssertionError("decoded")) as decode:
        again, created = services.source_image_ingest(file=io.BytesIO(content), filename="b.png", uploaded_by=alice)
    decode.assert_not_called()
    assert (again, created) == (first, False)


def test_a_jpeg_is_decoded_at_an_eighth_of_its_size():
    content = make_image_bytes(4000, 3000, fmt="JPEG", quality=80)
    image = Image.open(io.BytesIO(content))
    images._decode(image)
    assert image.size == (500, 375)  # 1/64 of the pixels in memory
    inspected = images.inspect_image(content, max_bytes=30 * 1024 * 1024, filename="big.jpg")
    assert (inspected.width, inspected.height) == (4000, 3000)  # the image's own size is what is stored
    # A truncated stream is still caught at the reduced scale.
    with pytest.raises(ValidationError, match="damaged or truncated"):
        images.inspect_image(content[: len(content) // 2], max_bytes=30 * 1024 * 1024, filename="cut.jpg")


def test_at_most_decode_slots_decodes_run_at_once():
    running, peak, lock = 0, 0, threading.Lock()

    def slow_load(self):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1

    pictures = [Image.open(io.BytesIO(make_image_bytes(400, 300, colour=(n, 0, 0)))) for n in range(6)]
    with mock.patch.object(ImageFile.ImageFile, "load", slow_load):
        threads = [threading.Thread(target=images._decode, args=(p,)) for p in pictures]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert peak == images.DECODE_SLOTS == 2
