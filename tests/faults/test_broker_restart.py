"""Fault 4: the broker (Redis) restarts mid-run and forgets every message it held.

A Redis of this test's own (the machine's redis-server on a free port, no persistence)
is restarted while generations are at fal: the queued status checks, the reserved tasks
and the unacknowledged ones are gone. The worker reconnects, and the reconcile sweep
(beat) finds every generation whose task was lost, so none is stuck.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time

import pytest

from generations.models import Generation
from tests.conftest import OUTPUT_DIR, running_worker, sender_for
from tests.faults.conftest import assert_archived_once_each, counter, create, wait_until

S = Generation.Status
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class PrivateRedis:
    def __init__(self, directory) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; the broker-restart test needs it (apt install redis)")
        self.binary = binary
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(OUTPUT_DIR / "private-redis.log", "ab")  # noqa: SIM115 (kept open for the process)
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port} within 10 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # as abrupt as a crash: nothing is saved
            self.process.wait()


@pytest.fixture
def private_redis(tmp_path):
    OUTPUT_DIR.mkdir(exist_ok=True)
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


def test_a_broker_restart_loses_its_messages_and_the_sweep_resumes_every_generation(
    faults, s3, worker_env, source_image, settings, private_redis
):
    # Polling only: this process (and its webhook view) sends to the configured broker,
    # not to this test's Redis, so only the worker and its beat use the restarted one.
    settings.PUBLIC_BASE_URL = ""
    faults.configure(progress_latency=4)
    env = worker_env(webhooks=False, CELERY_BROKER_URL=private_redis.url, CELERY_RESULT_BACKEND=private_redis.url)
    with contextlib.ExitStack() as stack:
        worker = stack.enter_context(running_worker(name="broker-restart", extra_env=env, beat=True))
        generations = create(source_image, count=4, submit=False)
        with sender_for(private_redis.url) as send:
            for generation in generations:
                send("generations.submit", args=[generation.pk], queue=worker.queue)
        wait_until(
            lambda: Generation.objects.filter(pk__in=[g.pk for g in generations], fal_request_id__gt="").count() == 4,
            what="all four at fal",
        )
        private_redis.stop()
        time.sleep(2)  # the worker notices and retries its connection
        private_redis.start()
        time.sleep(2)
        if worker.poll() is not None:
            # Celery 5.7 / kombu 5.7 sometimes exit on a lost Redis connection ("Unrecoverable
            # error: AttributeError ... 'hostname'" while restoring unacknowledged messages), so
            # production runs the worker under a supervisor that restarts it; so does this test.
            stack.enter_context(
                running_worker(name="broker-restart-supervised", extra_env=env, queue=worker.queue, beat=True)
            )
        for generation in generations:
            wait_until(
                lambda g=generation: Generation.objects.get(pk=g.pk).status == S.COMPLETED,
                timeout=120,
                what="completion after the broker restart",
            )
    assert counter(faults, "requests_created") == 4
    assert_archived_once_each(generations, s3)


def test_a_generation_requested_while_the_broker_is_down_is_kept_and_submitted_later(
    source_image, settings, caplog, monkeypatch
):
    """The web cannot queue the submit: the request still succeeds, the generation waits as
    pending, and the sweep submits it once the broker is back."""
    from kombu.exceptions import OperationalError

    from generations import pipeline
    from generations.tasks import submit_generation

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(submit_generation, "delay", broker_down)
    [generation] = create(source_image)  # no exception reaches the caller (a page, the command)
    generation.refresh_from_db()
    assert generation.status == S.PENDING and generation.submit_started_at is None
    assert "the reconcile sweep will submit it" in caplog.text

    queued = []
    monkeypatch.setattr(submit_generation, "delay", lambda pk: queued.append(pk))
    Generation.objects.filter(pk=generation.pk).update(created_at=generation.created_at.replace(year=2020))
    pipeline.reconcile()
    assert queued == [generation.pk]
