"""The fault-injection suite's set-up: real parts, with workers started, killed and restarted per test.

Every test here runs on the configured database and broker (PostgreSQL and Redis in CI),
with real `celery worker` processes, SeaweedFS as S3 and the fal simulator over HTTPS.
Unlike the session-wide pipeline worker, these workers belong to one test, which may
SIGKILL them; their replacement embeds beat, so the reconcile sweep runs as it would in
production, only faster (FAULT_ENV).
"""

from __future__ import annotations

import hashlib
import tempfile

import pytest

from generations import media, services
from generations.models import Generation
from tests.conftest import PIPELINE_ENV, wait_until  # noqa: F401 (the fault tests import it from here)

S = Generation.Status

# Short clocks, so what takes minutes in production takes seconds here.
FAULT_ENV = {
    **PIPELINE_ENV,
    "RECONCILE_INTERVAL": "1",
    "RECONCILE_STALE_AFTER": "2",
    "ARCHIVE_LEASE_SECONDS": "3",
    "ARCHIVE_MAX_ATTEMPTS": "6",
    "FAL_SUBMIT_DOUBT_GRACE": "120",
    "FAL_CLIENT_TIMEOUT": "2",
}


@pytest.fixture
def faults(fal_simulator, s3, live_server, settings):
    """The simulator, reset, and this process configured like the fault workers."""
    settings.STORAGES = {**settings.STORAGES, "default": s3.storages_settings()}
    settings.PUBLIC_BASE_URL = live_server.url
    settings.FAL_POLL_MIN_INTERVAL = float(FAULT_ENV["FAL_POLL_MIN_INTERVAL"])
    settings.FAL_POLL_MAX_INTERVAL = float(FAULT_ENV["FAL_POLL_MAX_INTERVAL"])
    settings.FAL_WEBHOOK_POLL_FALLBACK = float(FAULT_ENV["FAL_WEBHOOK_POLL_FALLBACK"])
    fal_simulator.reset()
    yield fal_simulator
    fal_simulator.reset()


@pytest.fixture
def worker_env(s3, live_server):
    """Environment for a fault worker: with webhooks to the live server, or polling only."""

    def env(*, webhooks: bool = True, **extra: str) -> dict[str, str]:
        return {**s3.env(), **FAULT_ENV, "PUBLIC_BASE_URL": live_server.url if webhooks else "", **extra}

    return env


def create(source_image, count: int = 1, *, submit: bool = True, **params) -> list[Generation]:
    """`count` generations of 2 s at 480p (fast renders), each with a seed of its own, queued for submission."""
    prompt, _ = services.prompt_get_or_create(text="Fog rolls over the harbour at first light.")
    made = []
    for index in range(count):
        values = {"resolution": "480p", "duration": 2, "seed": 1000 + index, **params}
        made.append(
            services.generation_create(
                source_image=source_image,
                prompt=prompt,
                params=services.GenerationParams.from_raw(**values),
                submit=submit,
            )
        )
    return made


def counter(simulator, name: str) -> int:
    return simulator.stats()["counters"].get(name, 0)


def assert_archived_once_each(generations: list[Generation], s3) -> None:
    """Each generation completed with its one mp4 and one poster in S3, and nothing else of it there:
    no second copy, no unfinished multipart upload."""
    client = s3.client()
    for generation in generations:
        generation.refresh_from_db()
        assert generation.status == S.COMPLETED, (generation.code, generation.status, generation.error_message)
        folder = generation.video.name.rsplit("/", 1)[0]
        keys = [k for k in s3.object_keys(f"{folder}/") if str(generation.code) in k]
        assert sorted(keys) == sorted([generation.video.name, generation.poster.name])
        head = client.head_object(Bucket=s3.bucket, Key=generation.video.name)
        assert head["ContentLength"] == generation.video_bytes > 0
        assert head["ContentType"] == "video/mp4"
        body = client.get_object(Bucket=s3.bucket, Key=generation.video.name)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == generation.video_sha256
        with tempfile.NamedTemporaryFile(suffix=".mp4") as copy:
            copy.write(body)
            copy.flush()
            facts = media.probe_video(copy.name)  # a whole, decodable mp4
        assert abs(facts.duration - generation.duration) <= 0.5
        unfinished = client.list_multipart_uploads(Bucket=s3.bucket, Prefix=generation.video.name).get("Uploads", [])
        assert unfinished == []


def fal_requests_by_seed(simulator) -> dict[int, list[str]]:
    """The fal requests the simulator queued since its last reset, by the seed they asked for
    (each generation `create` makes has a seed of its own)."""
    by_seed: dict[int, list[str]] = {}
    for request_id, counts in simulator.stats()["requests"].items():
        if counts.get("requests_created"):
            job = simulator.job(request_id)
            by_seed.setdefault(int(job.arguments["seed"]), []).append(request_id)
    return by_seed
