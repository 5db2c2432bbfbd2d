"""The real parts for end-to-end pipeline tests.

- the fal simulator over HTTPS (its client.env tells our gateway, in this process and
  in the worker, where it is and which CA to trust: the real fal-client path);
- SeaweedFS as S3 on loopback (both this process and the worker store there);
- the live server (this process) receiving fal's signed webhooks;
- a real `celery worker` process on the configured broker and the test database.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from generations.models import Generation
from tests.conftest import running_worker
from tests.s3_server import S3Server

# Fast cadences for tests; production defaults are in settings.py.
PIPELINE_ENV = {
    "FAL_POLL_MIN_INTERVAL": "0.5",
    "FAL_POLL_MAX_INTERVAL": "2",
    "FAL_WEBHOOK_POLL_FALLBACK": "4",
    "ARCHIVE_MAX_ATTEMPTS": "2",
    "FAL_SUBMIT_MAX_RETRIES": "4",
}


@pytest.fixture(scope="session")
def fal_simulator():
    from fal_simulator.server import FalSimulator

    simulator = FalSimulator(port=0, state_dir=settings.FAL_SIMULATOR_STATE_DIR)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
def s3():
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
def pipeline_worker(django_db_setup, django_db_blocker, fal_simulator, s3, live_server):
    """A worker that talks to the simulator, stores into S3 and asks for webhooks to the live server."""
    extra = {**s3.env(), **PIPELINE_ENV, "PUBLIC_BASE_URL": live_server.url}
    with running_worker(name="pipeline", extra_env=extra) as process:
        yield process


@pytest.fixture
def sim(pipeline_worker, fal_simulator, s3, live_server, settings):
    """This process sees what the worker sees: the same S3 bucket, webhook base URL and cadences."""
    settings.STORAGES = {**settings.STORAGES, "default": s3.storages_settings()}
    settings.PUBLIC_BASE_URL = live_server.url
    settings.FAL_POLL_MIN_INTERVAL = float(PIPELINE_ENV["FAL_POLL_MIN_INTERVAL"])
    settings.FAL_POLL_MAX_INTERVAL = float(PIPELINE_ENV["FAL_POLL_MAX_INTERVAL"])
    settings.FAL_WEBHOOK_POLL_FALLBACK = float(PIPELINE_ENV["FAL_WEBHOOK_POLL_FALLBACK"])
    settings.ARCHIVE_MAX_ATTEMPTS = int(PIPELINE_ENV["ARCHIVE_MAX_ATTEMPTS"])
    fal_simulator.reset()
    return fal_simulator


def wait_for(generation: Generation, statuses, timeout: float = 90) -> Generation:
    """Poll the database until the generation reaches one of `statuses`."""
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if generation.status in statuses:
            return generation
        time.sleep(0.2)
    raise AssertionError(
        f"generation {generation.code} is {generation.status} after {timeout} s, not {sorted(statuses)} "
        f"({generation.error_code}: {generation.error_message}); see test-output/pipeline-worker.log"
    )
