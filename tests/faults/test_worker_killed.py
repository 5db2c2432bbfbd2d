"""Fault 1: the worker is SIGKILLed while submitting, while fal renders, and halfway through an archive.

The whole worker (main process and pool) dies at once, as in an OOM kill or a lost
machine: its unacknowledged tasks stay with the broker, its leases stay in the database.
A new worker with beat takes over the same queue. Every generation must end completed
with one valid archived mp4, fal must have received exactly one request per generation,
and nothing partial may remain in S3.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
from pathlib import Path

import pytest

from generations import archive
from generations.models import Generation
from tests.conftest import running_worker, stop_worker
from tests.faults.conftest import assert_archived_once_each, counter, create, wait_until

S = Generation.Status
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def statuses(generations) -> list[str]:
    return [Generation.objects.get(pk=g.pk).status for g in generations]


def test_killed_while_submitting_no_video_is_paid_twice(faults, s3, worker_env, source_image):
    # fal queues the request but its answer never comes back in time: the worker dies
    # inside the submit. The request id is unknown to us until fal's webhook reveals it.
    faults.configure(rate_hang={"submit": 1.0}, hang_seconds=30)
    with running_worker(name="kill-submit", extra_env=worker_env()) as first:
        generations = create(source_image, count=3)
        wait_until(lambda: counter(faults, "requests_created") >= 2, what="two submits reaching fal")
        stop_worker(first, kill=True)
        faults.configure(rate_hang={})
        with running_worker(name="kill-submit-restarted", extra_env=worker_env(), queue=first.queue, beat=True):
            for generation in generations:
                wait_until(lambda g=generation: statuses([g]) == [S.COMPLETED], timeout=90, what="completion")
    assert counter(faults, "requests_created") == 3  # one fal job per generation, none re-sent
    assert [Generation.objects.get(pk=g.pk).attempts for g in generations] == [1, 1, 1]
    assert_archived_once_each(generations, s3)


def test_killed_while_fal_renders_the_sweep_resumes_following(faults, s3, worker_env, source_image, settings):
    # Polling only: the poll tasks the dead worker held are lost with it (until the broker's
    # visibility timeout, an hour); the reconcile sweep must find the overdue requests.
    settings.PUBLIC_BASE_URL = ""
    faults.configure(progress_latency=4)
    with running_worker(name="kill-progress", extra_env=worker_env(webhooks=False)) as first:
        generations = create(source_image, count=3)
        wait_until(
            lambda: all(s in (S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS) for s in statuses(generations)),
            what="all three at fal",
        )
        stop_worker(first, kill=True)
        with running_worker(
            name="kill-progress-restarted", extra_env=worker_env(webhooks=False), queue=first.queue, beat=True
        ):
            for generation in generations:
                wait_until(lambda g=generation: statuses([g]) == [S.COMPLETED], timeout=90, what="completion")
    assert counter(faults, "requests_created") == 3
    assert_archived_once_each(generations, s3)


def test_killed_halfway_through_an_archive_it_is_archived_again_not_generated_again(
    faults, s3, worker_env, source_image
):
    # A slow download so the kill lands inside the archive.
    faults.configure(video_bytes_per_second=2_000)  # a 20 KB video: ten seconds
    with running_worker(name="kill-archive", extra_env=worker_env()) as first:
        [generation] = create(source_image)
        wait_until(
            lambda: Generation.objects.filter(pk=generation.pk, status=S.ARCHIVING, archive_attempts=1).exists(),
            what="the archive starting",
        )
        wait_until(lambda: _downloads_under_way(generation), what="the download under way")
        stop_worker(first, kill=True)
        assert _downloads_under_way(generation), "the killed archiver's temporary file is left behind"
        faults.configure(video_bytes_per_second=0)
        with running_worker(name="kill-archive-restarted", extra_env=worker_env(), queue=first.queue, beat=True):
            wait_until(lambda: statuses([generation]) == [S.COMPLETED], timeout=90, what="completion")
    generation.refresh_from_db()
    assert generation.archive_attempts == 2 and generation.attempts == 1
    assert counter(faults, "requests_created") == 1
    assert_archived_once_each([generation], s3)
    assert _downloads_under_way(generation) == []  # the retry removed the dead attempt's file


def test_a_killed_pool_process_s_archive_is_redelivered_at_once(faults, s3, worker_env, source_image):
    # Only the pool process dies (the main process lives): Celery rejects the task back to
    # the queue (task_reject_on_worker_lost), and the redelivery, having the same task id,
    # takes over the archive lease without waiting for it to run out.
    faults.configure(video_bytes_per_second=2_000)  # a 20 KB video: ten seconds
    with running_worker(
        name="kill-pool", extra_env=worker_env(ARCHIVE_LEASE_SECONDS="600", RECONCILE_INTERVAL="600")
    ) as worker:
        [generation] = create(source_image)
        wait_until(lambda: _downloads_under_way(generation), what="the download under way")
        faults.configure(video_bytes_per_second=0)
        # Only the archiver: an idle pool process may hold the pool's queue lock, and killing
        # it would hang its successors (billiard), which is not the fault under test.
        os.kill(_archiving_process(worker.pid, generation), signal.SIGKILL)
        wait_until(
            lambda: statuses([generation]) == [S.COMPLETED],
            timeout=120,
            what="completion long before the 600 s lease runs out",
        )
    generation.refresh_from_db()
    assert generation.archive_attempts == 2
    assert counter(faults, "requests_created") == 1
    assert_archived_once_each([generation], s3)


def _downloads_under_way(generation: Generation) -> list[str]:
    """The archive's temporary files for this generation (created when its download starts;
    httpx hands the body over in 1 MiB chunks, so a small video's file stays empty until the end)."""
    return glob.glob(os.path.join(archive.TEMPORARY_DIR, f"{generation.code}-*"))


def _archiving_process(worker_pid: int, generation: Generation) -> int:
    """The pool process that has this generation's download open."""
    [download] = _downloads_under_way(generation)
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    for child in children:
        fds = Path(f"/proc/{child}/fd")
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == download for fd in fds.iterdir()):
                return int(child)
    raise AssertionError(f"no pool process of {worker_pid} has {download} open")
