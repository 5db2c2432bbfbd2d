"""Database constraints: each is tested through full_clean() and through a raw create()."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from generations.models import Generation, Prompt

pytestmark = pytest.mark.django_db


def _generation_kwargs(source_image, prompt, **overrides):
    return {"source_image": source_image, "prompt": prompt, "prompt_text": prompt.text, **overrides}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration", 1),
        ("duration", 13),
        ("aspect_ratio", "2:1"),
        ("resolution", "4k"),
        ("seed", -5),
        ("seed", 2**32),
        ("status", "exploded"),
    ],
)
def test_out_of_range_inputs_are_refused_by_validation_and_by_the_database(source_image, prompt, field, value):
    candidate = Generation(**_generation_kwargs(source_image, prompt, **{field: value}))
    with pytest.raises(ValidationError) as excinfo:
        candidate.full_clean()
    assert field in excinfo.value.message_dict

    with pytest.raises(IntegrityError), transaction.atomic():
        Generation.objects.create(**_generation_kwargs(source_image, prompt, **{field: value}))
    assert Generation.objects.count() == 0


def test_defaults_follow_the_model_schema(generation):
    assert (generation.aspect_ratio, generation.resolution, generation.duration) == ("auto", "1080p", 5)
    assert generation.camera_fixed is False
    assert generation.enable_safety_checker is True
    assert generation.seed is None
    assert generation.status == Generation.Status.PENDING
    assert generation.model_id == "fal-ai/bytedance/seedance/v1/pro/fast/image-to-video"


def test_fal_arguments_send_duration_as_string_and_random_seed_as_minus_one(generation):
    args = generation.fal_arguments(image_url="https://example.com/a.png")
    assert args == {
        "prompt": "A slow zoom over the hills at dawn.",
        "image_url": "https://example.com/a.png",
        "aspect_ratio": "auto",
        "resolution": "1080p",
        "duration": "5",
        "camera_fixed": False,
        "seed": -1,
        "enable_safety_checker": True,
    }


def test_fal_request_id_is_unique_when_set(source_image, prompt):
    Generation.objects.create(**_generation_kwargs(source_image, prompt, fal_request_id="req-1"))
    # Any number of generations may have no request id yet.
    Generation.objects.create(**_generation_kwargs(source_image, prompt))
    Generation.objects.create(**_generation_kwargs(source_image, prompt))
    with pytest.raises(IntegrityError), transaction.atomic():
        Generation.objects.create(**_generation_kwargs(source_image, prompt, fal_request_id="req-1"))
    assert Generation.objects.filter(fal_request_id="req-1").count() == 1


def test_completed_requires_an_archived_video(source_image, prompt):
    with pytest.raises(IntegrityError), transaction.atomic():
        Generation.objects.create(**_generation_kwargs(source_image, prompt, status="completed"))
    Generation.objects.create(
        **_generation_kwargs(
            source_image, prompt, status="completed", video="generations/2026/11/x.mp4", video_sha256="a" * 64
        )
    )


def test_a_blank_prompt_is_refused_by_the_database_too(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        Prompt.objects.create(text="  \n\t ", text_hash="x" * 64)


def test_source_image_and_prompt_are_protected_while_generations_use_them(generation):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        generation.source_image.delete()
    with pytest.raises(ProtectedError):
        generation.prompt.delete()
    assert Generation.objects.filter(pk=generation.pk).exists()


def test_source_image_sha256_is_unique(source_image):
    from generations.models import SourceImage

    with pytest.raises(IntegrityError), transaction.atomic():
        SourceImage.objects.create(
            file="x.png", sha256=source_image.sha256, width=10, height=10, format="PNG", size_bytes=1
        )


def test_every_failure_code_the_app_writes_has_words():
    """Each code the pipeline, the gateway and the archive can store is said in words on the pages."""
    import re
    from pathlib import Path

    from generations import failures

    root = Path(__file__).resolve().parents[2] / "generations"
    written = set()
    for name in ("pipeline.py", "fal_gateway.py", "archive.py"):
        text = (root / name).read_text()
        written |= set(re.findall(r'code="([a-z_]+)"', text))
        written |= set(re.findall(r'ArchiveError\(\s*"([a-z_]+)"', text))
        written |= set(re.findall(r'_fail\(\s*\w+,\s*"([a-z_]+)"', text))
    from generations.fal_gateway import CONTENT_POLICY, INFRA_ERROR_TYPES

    written |= INFRA_ERROR_TYPES | {CONTENT_POLICY}
    missing = sorted(code for code in written if code not in failures.WORDS)
    assert written and missing == []
    assert failures.words_for("content_policy_violation") == "Refused by fal's content checker"
    assert failures.words_for("runner_oom") == "Runner oom"  # a new fal type is still words
    assert failures.words_for("") == ""
