"""Users in each role and a factory of generations, for the compare and trash pages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from generations.models import Generation

S = Generation.Status
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def make(source_image, prompt):
    """make(created_at=..., status=..., **fields) -> a Generation row, no task queued."""

    def make(created_at: datetime = T0, status: str = S.COMPLETED, *, prompt_text: str | None = None, **fields):
        if status == S.COMPLETED:
            fields.setdefault("video", "generations/2026/03/x.mp4")
            fields.setdefault("video_sha256", "a" * 64)
        fields.setdefault("source_image", source_image)
        fields.setdefault("prompt", prompt)
        return Generation.objects.create(
            prompt_text=prompt_text or fields["prompt"].text, status=status, created_at=created_at, **fields
        )

    return make
