"""Admin tests: users in each role, images, and generations in any state.

Nothing reaches Celery or fal: the submit task's `delay`, the pipeline's poll and
archive scheduling, and fal's cancel call are replaced at their one seam each.
"""

from __future__ import annotations

import hashlib
import io
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from generations import ledger, services
from generations.models import Generation
from tests.conftest import make_image_bytes, team_member

S = Generation.Status


@pytest.fixture(autouse=True)
def no_workers():
    with (
        mock.patch("generations.tasks.submit_generation.delay", autospec=True) as submit,
        mock.patch("generations.pipeline._schedule_poll", autospec=True) as schedule_poll,
        mock.patch("generations.pipeline._schedule_archive", autospec=True) as schedule_archive,
        mock.patch("generations.fal_gateway.cancel", autospec=True, return_value=True) as fal_cancel,
    ):
        yield mock.Mock(
            submit=submit, schedule_poll=schedule_poll, schedule_archive=schedule_archive, fal_cancel=fal_cancel
        )


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


# In the admin, the team's members are staff (the admin lets in nobody else).
@pytest.fixture
def generator(django_user_model):
    return team_member(django_user_model, "gina", "generator", is_staff=True)


@pytest.fixture
def viewer(django_user_model):
    return team_member(django_user_model, "vic", "viewer", is_staff=True)


@pytest.fixture
def images(db, alice):
    """Two different images: 400×300 and 640×360."""
    result = []
    for size, colour, name in [((400, 300), (200, 80, 40), "hills.png"), ((640, 360), (40, 80, 200), "sea.png")]:
        image, _ = services.source_image_ingest(
            file=io.BytesIO(make_image_bytes(*size, colour=colour)), filename=name, uploaded_by=alice
        )
        result.append(image)
    return result


@pytest.fixture
def make_generation(images, alice):
    """A generation in any status; `completed` ones get a stored video and poster."""

    def make(status=S.PENDING, *, image=None, prompt_text="A slow zoom over the hills at dawn.", seed=None, **fields):
        prompt, _ = services.prompt_get_or_create(text=prompt_text)
        params = services.GenerationParams(resolution="480p", aspect_ratio="16:9", duration=5, seed=seed)
        generation = services.generation_create(
            source_image=image or images[0], prompt=prompt, params=params, requested_by=alice, submit=False
        )
        if status == S.COMPLETED:
            content = b"\x00\x00\x00\x18ftypmp42 not really a video " + generation.code.bytes
            generation.video.save("v.mp4", ContentFile(content), save=False)
            generation.poster.save("p.jpg", ContentFile(b"\xff\xd8\xff poster"), save=False)
            fields = {
                "video": generation.video.name,
                "poster": generation.poster.name,
                "video_sha256": hashlib.sha256(content).hexdigest(),
                "seed_used": seed if seed is not None else 1234,
                **fields,
            }
        if status not in (S.PENDING, S.COMPLETED):
            fields.setdefault("fal_request_id", f"req-{generation.code}")
        if status in (S.FAILED, S.CANCELLED):
            fields.setdefault("cost", 0)  # settled, as lifecycle.transition would
        Generation.objects.filter(pk=generation.pk).update(status=status, **fields)
        generation.refresh_from_db()
        ledger.settle(generation)  # the ledger follows the cost, as lifecycle.transition keeps it
        return generation

    return make


def changelist_url(model: str = "generation") -> str:
    return reverse(f"admin:generations_{model}_changelist")


def change_url(obj) -> str:
    return reverse(f"admin:generations_{obj._meta.model_name}_change", args=[obj.pk])


def run_action(client, action: str, objs, model: str = "generation", **extra):
    return client.post(
        changelist_url(model),
        {"action": action, "_selected_action": [o.pk for o in objs], "index": 0, **extra},
        follow=True,
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
