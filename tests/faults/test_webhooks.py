"""Fault 5: fal's webhooks arrive twice, late (after polling already finished the job), out of
order, for requests we never made, or forged.

These go through the real path: the simulator signs with its ED25519 key, the live server
verifies against the simulator's published key set. No state moves backwards, nothing is
archived twice, and a forgery gets 401 and changes nothing. (The webhook view's own unit
tests, tests/pipeline/test_webhook_view.py, cover each case against a stand-in key too.)
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from generations.models import Generation
from tests.conftest import running_worker
from tests.faults.conftest import assert_archived_once_each, counter, create, wait_until

S = Generation.Status
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "delay", [0, 8], ids=["duplicated-racing-the-poll", "duplicated-and-late-past-the-polling-fallback"]
)
def test_duplicated_and_late_webhooks_archive_once_and_never_move_back(faults, s3, worker_env, source_image, delay):
    # FAULT_ENV's polling fallback is 4 s: with an 8 s delay the poll finishes every job first.
    faults.configure(webhook_duplicate=True, webhook_delay=delay)
    with running_worker(name="webhooks", extra_env=worker_env()):
        generations = create(source_image, count=3)
        for generation in generations:
            wait_until(lambda g=generation: Generation.objects.get(pk=g.pk).status == S.COMPLETED, timeout=60)
        finished = {g.pk: Generation.objects.get(pk=g.pk).updated_at for g in generations}
        wait_until(lambda: counter(faults, "webhook_deliveries") == 6, timeout=30, what="both copies delivered")
    assert all(record.get("status_code") == 200 for record in faults.stats()["webhooks"])
    for generation in generations:
        generation.refresh_from_db()
        assert generation.status == S.COMPLETED and generation.archive_attempts == 1
        assert generation.updated_at == finished[generation.pk]  # the late copies changed nothing
    assert counter(faults, "requests_created") == 3
    assert_archived_once_each(generations, s3)


def signed_webhook(faults, live_server, *, request_id: str, body: dict, forge: bool = False) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        **faults.signer.headers(raw, request_id=request_id, user_id=faults.webhook_user_id),
    }
    if forge:  # signed over other bytes: what an attacker without fal's key can do at best
        raw = raw.replace(b'"ERROR"', b'"OK"') if b'"ERROR"' in raw else raw + b" "
    return httpx.post(f"{live_server.url}/webhooks/fal", content=raw, headers=headers, timeout=10)


def test_an_error_webhook_after_completion_is_ignored(faults, s3, worker_env, source_image, live_server):
    with running_worker(name="webhooks-order", extra_env=worker_env()):
        [generation] = create(source_image)
        wait_until(lambda: Generation.objects.get(pk=generation.pk).status == S.COMPLETED, timeout=60)
    generation.refresh_from_db()
    before = (generation.status, generation.updated_at, generation.video.name, generation.cost)
    # Out of order: an error report for the same request, signed with fal's (the simulator's) key.
    late_error = {"request_id": generation.fal_request_id, "status": "ERROR", "error": "Internal error", "payload": {}}
    response = signed_webhook(faults, live_server, request_id=generation.fal_request_id, body=late_error)
    assert response.status_code == 200
    generation.refresh_from_db()
    assert (generation.status, generation.updated_at, generation.video.name, generation.cost) == before


def test_a_webhook_for_a_request_we_never_made_is_acknowledged_and_ignored(faults, live_server, source_image):
    [generation] = create(source_image, submit=False)
    unknown = str(uuid.uuid4())
    body = {"request_id": unknown, "status": "OK", "payload": {"video": {"url": "https://x/v.mp4"}, "seed": 1}}
    response = signed_webhook(faults, live_server, request_id=unknown, body=body)
    assert response.status_code == 200  # fal stops retrying; nothing else happens
    assert list(Generation.objects.values_list("status", "fal_request_id")) == [(S.PENDING, "")]
    del generation


def test_a_forged_webhook_gets_401_and_changes_nothing(faults, s3, worker_env, source_image, live_server):
    faults.configure(webhook_drop=True, progress_latency=30)
    with running_worker(name="webhooks-forged", extra_env=worker_env()):
        [generation] = create(source_image)
        wait_until(lambda: Generation.objects.get(pk=generation.pk).fal_request_id, what="the request at fal")
        generation.refresh_from_db()
        before = (generation.status, generation.updated_at)
        body = {
            "request_id": generation.fal_request_id,
            "status": "OK",
            "payload": {"video": {"url": "https://attacker.example/v.mp4"}, "seed": 1},
        }
        response = signed_webhook(faults, live_server, request_id=generation.fal_request_id, body=body, forge=True)
        assert response.status_code == 401
        unsigned = httpx.post(f"{live_server.url}/webhooks/fal", json=body, timeout=10)
        assert unsigned.status_code == 401
        generation.refresh_from_db()
        assert (generation.status, generation.updated_at) == before
        assert generation.fal_video_url == ""
