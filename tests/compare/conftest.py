"""Users in each role and a factory of generations, for the compare and trash pages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group

from generations.models import Generation
from generations.roles import ensure_groups

S = Generation.Status
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _member(django_user_model, name: str, group: str | None, **extra):
    ensure_groups()
    user = django_user_model.objects.create_user(name, f"{name}@example.com", f"{name}-password", **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def viewer(db, django_user_model):
    return _member(django_user_model, "vera", "viewer")


@pytest.fixture
def generator(db, django_user_model):
    return _member(django_user_model, "gene", "generator")


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def generator_client(client, generator):
    client.force_login(generator)
    return client


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
