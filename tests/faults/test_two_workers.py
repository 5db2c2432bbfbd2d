"""Fault 6: two workers process the same generation at once.

Duplicate tasks happen: a broker redelivers a task whose worker is only slow, a
webhook and a poll both finish a job, an operator presses "retry" twice. Here two worker
processes each get the submit, the status checks and the archive of the same
generation at the same moment; the database claims decide: one fal job, one archive.
"""

from __future__ import annotations

import pytest

from generations.models import Generation
from generations.tasks import archive_generation, submit_generation
from tests.conftest import running_worker
from tests.faults.conftest import assert_archived_once_each, counter, create, wait_until

S = Generation.Status
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_two_workers_given_the_same_generation_submit_once_and_archive_once(
    faults, s3, worker_env, source_image, settings
):
    settings.PUBLIC_BASE_URL = ""  # polling only: both workers keep checking the same request
    faults.configure(progress_latency=2, video_bytes_per_second=5_000)  # a 20 KB video: four seconds
    env = worker_env(webhooks=False)
    with running_worker(name="twin-a", extra_env=env) as a, running_worker(name="twin-b", extra_env=env) as b:
        generations = create(source_image, count=2, submit=False)
        for generation in generations:
            for worker in (a, b):
                submit_generation.apply_async((generation.pk,), queue=worker.queue)
        # Both archive as soon as fal is done, while a download is in progress.
        for generation in generations:
            wait_until(
                lambda g=generation: Generation.objects.get(pk=g.pk).status in (S.ARCHIVING, S.COMPLETED),
                timeout=60,
                what="the video ready at fal",
            )
            for worker in (a, b):
                archive_generation.apply_async((generation.pk,), queue=worker.queue)
        for generation in generations:
            wait_until(lambda g=generation: Generation.objects.get(pk=g.pk).status == S.COMPLETED, timeout=60)
    assert counter(faults, "requests_created") == 2
    for generation in generations:
        generation.refresh_from_db()
        assert (generation.attempts, generation.archive_attempts) == (1, 1)
    assert_archived_once_each(generations, s3)
    # Each video was downloaded from fal once: the second archiver found the lease taken.
    assert counter(faults, "file_downloads") == 2
