"""Fault 2: fal answers 429, 500 and not at all (a timeout) for a fraction of calls.

Every generation must end, completed or failed with a reason a person can read, and fal
must never hold two jobs for one generation: a late submit answer is not re-sent (by us
or by fal-client), it is resolved by fal's webhook or failed as uncertain.
"""

from __future__ import annotations

import pytest

from generations.models import Generation
from tests.conftest import running_worker
from tests.faults.conftest import (
    assert_archived_once_each,
    counter,
    create,
    fal_requests_by_seed,
    wait_until,
)

S = Generation.Status
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAULTS = {
    "random_seed": 11,
    "rate_429": {"submit": 0.3, "status": 0.2, "result": 0.2},
    "rate_500": {"submit": 0.2, "status": 0.1},
    "rate_hang": {"submit": 0.2, "status": 0.1, "result": 0.1},
    "hang_seconds": 4,  # longer than FAL_CLIENT_TIMEOUT (2 s): the client gives up waiting
}


@pytest.mark.parametrize("webhooks", [True, False], ids=["webhooks", "polling-only"])
def test_fal_errors_and_timeouts_end_every_generation_with_one_fal_job_at_most(
    faults, s3, worker_env, source_image, settings, webhooks
):
    if not webhooks:
        settings.PUBLIC_BASE_URL = ""
    faults.configure(**FAULTS)
    with running_worker(name="fal-errors", extra_env=worker_env(webhooks=webhooks), beat=True):
        generations = create(source_image, count=8)
        wait_until(
            lambda: all(Generation.objects.get(pk=g.pk).status in Generation.ENDS for g in generations),
            timeout=240,
            interval=0.5,
            what="every generation ending",
        )
    jobs = fal_requests_by_seed(faults)
    completed = []
    for generation in generations:
        generation.refresh_from_db()
        fal_jobs = jobs.get(generation.seed, [])
        assert len(fal_jobs) <= 1, f"{generation.code} has {len(fal_jobs)} jobs at fal: {fal_jobs}"
        if generation.status == S.COMPLETED:
            assert fal_jobs == [generation.fal_request_id]
            completed.append(generation)
        else:
            assert generation.status == S.FAILED
            assert generation.error_code and generation.error_message
            assert "Traceback" not in generation.error_message
            if fal_jobs:
                # fal may have rendered it; we never asked again, and we say so.
                assert generation.error_code == "submit_uncertain", generation.error_message
    assert completed, "with these fractions most generations complete"
    assert_archived_once_each(completed, s3)
    # The faults did happen, on submits too (the simulator counts what it injected).
    for fault in ("429", "500", "hang"):
        assert counter(faults, f"faults_submit_{fault}") > 0, fault
