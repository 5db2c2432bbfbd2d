"""End to end on the real parts: the real fal-client over HTTPS against the simulator,
a real Celery worker on the configured broker, the test database, SeaweedFS as S3,
and fal's signed webhooks arriving at the live server."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import ssl
import subprocess
import sys
import tempfile

import httpx
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image

from generations import image_transport, media, pipeline, services
from generations.models import Generation
from seedance_studio.celery import app as celery_app
from tests.conftest import PIPELINE_ENV, database_url_for_tests, wait_for

S = Generation.Status
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def request(source_image, prompt_text="A slow zoom over the hills at dawn.", submit=True, **params):
    prompt, _ = services.prompt_get_or_create(text=prompt_text)
    params = {"resolution": "480p", "duration": 2, **params}
    return services.generation_create(
        source_image=source_image, prompt=prompt, params=services.GenerationParams.from_raw(**params), submit=submit
    )


def archived_object(s3, key: str) -> tuple[bytes, dict]:
    client = s3.client()
    head = client.head_object(Bucket=s3.bucket, Key=key)
    body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    return body, head


def probe(content: bytes) -> media.VideoFacts:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as fh:
        fh.write(content)
        fh.flush()
        return media.probe_video(fh.name)


def test_a_generation_is_submitted_followed_and_archived_to_s3(sim, s3, source_image):
    generation = request(source_image, aspect_ratio="16:9", seed=4242)
    generation = wait_for(generation, S.COMPLETED)

    # One fal request, one archive.
    assert sim.stats()["counters"].get("requests_created") == 1
    assert generation.attempts == 1 and generation.archive_attempts == 1
    assert generation.seed_used == 4242
    assert generation.submitted_at and generation.finished_at and generation.archived_at

    key = f"generations/{generation.created_at:%Y/%m}/{generation.code}.mp4"
    assert generation.video.name == key
    content, head = archived_object(s3, key)
    assert head["ContentType"] == "video/mp4"
    assert len(content) == generation.video_bytes
    facts = probe(content)
    assert facts.codec == "h264"
    assert abs(facts.duration - 2) < 0.1
    assert (facts.width, facts.height) == (864, 480) == (generation.video_width, generation.video_height)
    assert generation.video_sha256 == hashlib.sha256(content).hexdigest()

    poster, head = archived_object(s3, generation.poster.name)
    assert head["ContentType"] == "image/jpeg"
    assert Image.open(io.BytesIO(poster)).format == "JPEG"
    # fal's URL is kept next to our archive (it expires at fal; ours does not).
    assert generation.fal_video_url.startswith(sim.base_url)


def test_completion_by_webhook_and_by_poll_ends_in_one_archive(sim, s3, source_image):
    # Every webhook arrives twice, and the poller looks at the same time.
    sim.configure(webhook_duplicate=True)
    generation = wait_for(request(source_image), S.COMPLETED)
    deliveries = [w for w in sim.stats()["webhooks"] if w.get("request_id") == generation.fal_request_id]
    assert len(deliveries) >= 2
    assert all(w.get("status_code") == 200 for w in deliveries), deliveries
    assert generation.archive_attempts == 1
    keys = s3.object_keys(f"generations/{generation.created_at:%Y/%m}/{generation.code}")
    assert sorted(keys) == sorted([generation.video.name, generation.poster.name])


def test_without_webhooks_polling_alone_completes(sim, source_image):
    sim.configure(webhook_drop=True)
    generation = wait_for(request(source_image, duration=3), S.COMPLETED)
    assert sim.stats()["counters"].get("webhook_deliveries", 0) == 0
    assert abs(generation.video_duration - 3) < 0.1


def test_fal_s_422_is_stored_as_a_clear_error_and_not_retried(sim, source_image):
    generation = wait_for(request(source_image, prompt_text="A cat [simulate:422]"), S.FAILED)
    assert generation.error_code == "invalid_input"
    assert "prompt" in generation.error_message and "could not process" in generation.error_message
    assert sim.stats()["counters"].get("requests_created") == 1
    assert not generation.video


def test_429_and_500_are_retried_and_each_attempt_is_one_fal_request(sim, source_image):
    sim.configure(random_seed=7, rate_429={"submit": 0.5, "status": 0.3}, rate_500={"status": 0.3, "result": 0.3})
    generations = [request(source_image, seed=n) for n in range(3)]
    for generation in generations:
        wait_for(generation, S.COMPLETED, timeout=120)
    stats = sim.stats()
    assert stats["counters"].get("requests_created") == 3  # never a second job for one generation
    assert sum(v for k, v in stats["counters"].items() if k.startswith("faults_")) > 0
    assert all(g.attempts == 1 for g in generations if g.refresh_from_db() is None)


def test_cancel_of_a_queued_generation(sim, source_image):
    sim.configure(queue_latency=60)
    generation = wait_for(request(source_image), S.IN_QUEUE)
    assert generation.queue_position is not None
    # fal's report of the cancel may beat its answer to the call.
    assert pipeline.cancel(generation) in (S.CANCELLING, S.CANCELLED)
    generation = wait_for(generation, S.CANCELLED)
    assert generation.error_code == "cancelled"
    assert sim.stats()["counters"].get("cancels") == 1


def test_truncated_download_fails_the_archive_then_retry_archives_without_a_new_request(sim, s3, source_image):
    sim.configure(video_fault="truncated")
    generation = wait_for(request(source_image), S.FAILED, timeout=120)
    assert generation.error_code == "truncated"
    assert "can be retried without generating again" in generation.error_message
    assert generation.fal_video_url  # kept for the retry
    assert s3.object_keys(f"generations/{generation.created_at:%Y/%m}/{generation.code}") == []

    sim.configure(video_fault="none")
    pipeline.retry_archive(generation)
    generation = wait_for(generation, S.COMPLETED)
    assert sim.stats()["counters"].get("requests_created") == 1  # the video was not generated again


@pytest.mark.parametrize("mode", ["upload", "data_uri", "presigned", "auto"])
def test_the_source_image_reaches_fal_by_each_transport(sim, s3, settings, mode, alice):
    from tests.conftest import make_image_bytes

    settings.FAL_IMAGE_TRANSPORT = mode
    image, _ = services.source_image_ingest(file=io.BytesIO(make_image_bytes(450, 300)), uploaded_by=alice)
    url = image_transport.image_url_for_fal(image)
    with default_storage.open(image.file.name, "rb") as fh:
        original = fh.read()
    if mode == "data_uri":
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == original
    else:
        expected_host = sim.base_url if mode == "upload" else s3.endpoint_url  # auto on S3: presigned
        assert url.startswith(expected_host)
        trust = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])  # set by the gateway
        fetched = httpx.get(url, verify=trust, timeout=10)
        assert fetched.status_code == 200 and fetched.content == original


def test_an_unreachable_image_url_fails_with_fal_s_reason(sim, source_image, settings):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("generations.pipeline.image_url_for_fal", lambda image: "http://127.0.0.1:9/nothing.png")
        generation = request(source_image, submit=False)
        # Submitted from this process, where the transport is patched; the worker follows it.
        pipeline.submit(generation.pk)
    generation = wait_for(generation, S.FAILED)
    assert generation.error_code == "invalid_input"
    assert "image_url" in generation.error_message


def _generate(args: list[str], s3) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        **s3.env(),
        "DATABASE_URL": database_url_for_tests(),
        "SEEDANCE_ENV_FILE": "",
        "CELERY_TASK_DEFAULT_QUEUE": celery_app.conf.task_default_queue,
        **PIPELINE_ENV,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "generate", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_generate_command_waits_and_prints_json(sim, s3):
    image = os.path.join(settings.BASE_DIR, "generations", "demo", "chelsea.png")
    result = _generate(
        [
            "--image",
            image,
            "--prompt",
            "The cat blinks slowly.",
            "--resolution",
            "480p",
            "--duration",
            "2",
            "--aspect-ratio",
            "1:1",
            "--seed",
            "99",
            "--camera-fixed",
            "--wait",
            "--json",
        ],
        s3,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == "completed"
    assert answer["seed"] == 99
    assert answer["video_key"].endswith(f"{answer['id']}.mp4")
    assert answer["metadata"]["codec"] == "h264"
    assert (answer["metadata"]["width"], answer["metadata"]["height"]) == (640, 640)
    assert abs(answer["metadata"]["duration"] - 2) < 0.1
    assert answer["error"] is None
    generation = Generation.objects.get(code=answer["id"])
    assert generation.camera_fixed is True and generation.status == S.COMPLETED


def test_generate_command_reports_a_failure_with_a_non_zero_exit(sim, s3):
    image = os.path.join(settings.BASE_DIR, "generations", "demo", "coffee.png")
    result = _generate(
        [
            "--image",
            image,
            "--prompt",
            "Steam [simulate:422]",
            "--resolution",
            "480p",
            "--duration",
            "2",
            "--wait",
            "--json",
        ],
        s3,
    )
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["status"] == "failed"
    assert answer["error"]["code"] == "invalid_input"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "13"], "2 to 12 seconds, not 13"),
        (["--duration", "1"], "2 to 12 seconds, not 1"),
        (["--seed", "abc"], "whole number"),
        (["--prompt", "   "], "The prompt is empty"),
        (["--image", "/nonexistent.png"], "Cannot read the image"),
    ],
)
def test_generate_command_refuses_bad_input_and_stores_nothing(sim, s3, args, message):
    image = os.path.join(settings.BASE_DIR, "generations", "demo", "coffee.png")
    base = {"--image": image, "--prompt": "Steam rises.", "--resolution": "480p"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    flat = [item for pair in base.items() for item in pair]
    result = _generate(flat, s3)
    assert result.returncode != 0
    assert message in result.stderr
    assert Generation.objects.count() == 0
