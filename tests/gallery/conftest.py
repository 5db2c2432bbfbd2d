"""Users in each role and a factory of generations with explicit statuses and timestamps."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.base import ContentFile

from generations import services
from generations.models import Generation
from tests.conftest import T0, generation_rows, make_image_bytes

S = Generation.Status


@pytest.fixture
def image_b(db):
    image, _ = services.source_image_ingest(
        file=io.BytesIO(make_image_bytes(600, 300, colour=(10, 200, 30))), filename="b.png", title="Harbour"
    )
    return image


@pytest.fixture
def make(source_image, prompt):
    """make(created_at=..., status=..., **fields) -> a Generation row (default pending), no task queued."""
    return generation_rows(source_image, prompt, default_status=S.PENDING)


@pytest.fixture
def completed_with_files(make, generator):
    """A completed generation whose video and poster really are in the default storage."""
    video_bytes = b"\x00\x00\x00\x18ftypisom" + b"v" * 1000
    g = make(T0, S.COMPLETED, video_sha256=hashlib.sha256(video_bytes).hexdigest(), requested_by=generator)
    g.video.save("v.mp4", ContentFile(video_bytes), save=False)
    g.poster.save("p.jpg", ContentFile(make_image_bytes(fmt="JPEG")), save=False)
    g.save(update_fields=["video", "poster"])
    g.video_bytes_content = video_bytes
    return g
