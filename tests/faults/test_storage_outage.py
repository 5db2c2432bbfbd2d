"""Fault 3: S3 is unreachable while videos are being archived, then comes back.

The archive fails (retryably, nothing half-written), is retried with backoff from the
fal URL kept on the generation, and succeeds once S3 is back: no new fal request, no
new generation. /healthz names the storage while it is down.
"""

from __future__ import annotations

import pytest

from generations.models import Generation
from tests.conftest import running_worker
from tests.faults.conftest import assert_archived_once_each, counter, create, wait_until

S = Generation.Status
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_s3_outage_during_archiving_is_waited_out_without_generating_again(
    faults, s3, worker_env, source_image, client
):
    faults.configure(progress_latency=2)
    with running_worker(name="s3-outage", extra_env=worker_env(ARCHIVE_MAX_ATTEMPTS="12")):
        generations = create(source_image, count=2)
        wait_until(
            lambda: all(g.fal_request_id for g in Generation.objects.filter(pk__in=[x.pk for x in generations])),
            what="both requests at fal",
        )
        s3.stop()
        try:
            wait_until(
                lambda: (
                    Generation.objects.filter(
                        pk__in=[g.pk for g in generations], status=S.ARCHIVING, archive_attempts__gte=2
                    ).count()
                    == 2
                ),
                timeout=90,
                what="two failed archive attempts each",
            )
            stuck = Generation.objects.get(pk=generations[0].pk)
            assert stuck.error_code == "storage_unavailable"
            assert "storage is unavailable" in stuck.error_message and "retrying" in stuck.error_message
            health = client.get("/healthz")
            assert health.status_code == 503 and "storage" in health.content.decode()
        finally:
            s3.start()
        for generation in generations:
            wait_until(
                lambda g=generation: Generation.objects.get(pk=g.pk).status == S.COMPLETED,
                timeout=120,
                what="completion once S3 is back",
            )
    assert counter(faults, "requests_created") == 2
    assert Generation.objects.count() == 2
    for generation in generations:
        generation.refresh_from_db()
        assert generation.attempts == 1 and generation.archive_attempts >= 3
        assert generation.error_code == "" and generation.cost > 0
    assert_archived_once_each(generations, s3)
