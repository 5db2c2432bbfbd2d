"""The fal webhook endpoint: signature checks (a key pair of our own) and idempotent effects.

The key set is the one seam replaced here (`fal_webhooks._fetch_jwks`); the end-to-end
tests use the simulator's real published key set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from unittest import mock
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.cache import cache
from django.urls import reverse

from generations import lifecycle, pipeline
from generations.models import AuditEvent, Generation

S = Generation.Status
PRIVATE_KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()


def _jwks(*keys) -> list[dict]:
    out = []
    for key in keys:
        raw = key.public_key().public_bytes_raw()
        out.append({"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).decode().rstrip("=")})
    return out


@pytest.fixture(autouse=True)
def published_keys(settings):
    settings.FAL_KEY, settings.FAL_SIMULATED = "test-key", False
    cache.clear()
    with mock.patch("generations.fal_webhooks._fetch_jwks", autospec=True, return_value=_jwks(PRIVATE_KEY)) as m:
        yield m
    cache.clear()


def signed_post(
    client, body: dict, *, key=PRIVATE_KEY, timestamp=None, request_id=None, query="", tamper=False, user_id="user-1"
):
    raw = json.dumps(body).encode()
    request_id = request_id or body["request_id"]
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    message = "\n".join([request_id, user_id, timestamp, hashlib.sha256(raw).hexdigest()]).encode()
    signature = key.sign(message).hex()
    if tamper:
        raw = raw.replace(b"OK", b"KO")
    return client.post(
        reverse("fal-webhook") + query,
        data=raw,
        content_type="application/json",
        headers={
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": user_id,
            "X-Fal-Webhook-Timestamp": timestamp,
            "X-Fal-Webhook-Signature": signature,
        },
    )


def reference_query(generation) -> str:
    """The query our webhook URL carries for `generation` (its signed code)."""
    return "?" + urlencode({"generation": pipeline.webhook_reference(generation)})


def ok_payload(request_id="req-1", url="https://v3.fal.media/files/x/video.mp4", seed=1234):
    return {
        "request_id": request_id,
        "gateway_request_id": request_id,
        "status": "OK",
        "payload": {"video": {"url": url}, "seed": seed},
    }


@pytest.fixture
def in_progress(generation):
    lifecycle.transition(generation, S.SUBMITTED, fal_request_id="req-1")
    lifecycle.transition(generation, S.IN_PROGRESS)
    return generation


@pytest.fixture
def archive_calls():
    with mock.patch("generations.pipeline._schedule_archive", autospec=True) as m:
        yield m


@pytest.mark.django_db
def test_a_signed_completion_moves_to_archiving_once(client, in_progress, archive_calls):
    response = signed_post(client, ok_payload())
    assert response.status_code == 200 and response.json() == {"result": "archiving"}
    in_progress.refresh_from_db()
    assert in_progress.status == S.ARCHIVING
    assert in_progress.fal_video_url == "https://v3.fal.media/files/x/video.mp4"
    assert in_progress.seed_used == 1234
    # fal delivers again (it retries for hours): nothing happens twice.
    again = signed_post(client, ok_payload())
    assert again.status_code == 200 and again.json() == {"result": "already handled"}
    assert archive_calls.call_count == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "forgery",
    [
        {"key": OTHER_KEY},
        {"tamper": True},
        {"timestamp": time.time() - 3600},
        {"timestamp": time.time() + 3600},
    ],
    ids=["wrong-key", "tampered-body", "stale", "from-the-future"],
)
def test_forged_or_stale_webhooks_get_401_and_change_nothing(client, in_progress, archive_calls, forgery):
    response = signed_post(client, ok_payload(), **forgery)
    assert response.status_code == 401
    assert "error" in response.json()
    in_progress.refresh_from_db()
    assert in_progress.status == S.IN_PROGRESS and in_progress.fal_video_url == ""
    archive_calls.assert_not_called()


@pytest.mark.django_db
def test_missing_signature_headers_get_401(client, in_progress):
    response = client.post(reverse("fal-webhook"), data=json.dumps(ok_payload()), content_type="application/json")
    assert response.status_code == 401
    assert "Missing header" in response.json()["error"]


@pytest.mark.django_db
def test_body_request_id_must_match_the_signed_one(client, in_progress, archive_calls):
    response = signed_post(client, ok_payload(request_id="req-other"), request_id="req-1")
    assert response.status_code == 400
    archive_calls.assert_not_called()


@pytest.mark.django_db
def test_unknown_request_is_acknowledged_and_ignored(client, in_progress, archive_calls):
    response = signed_post(client, ok_payload(request_id="req-unknown"))
    assert response.status_code == 200 and response.json() == {"result": "unknown request"}
    archive_calls.assert_not_called()


@pytest.mark.django_db
def test_an_error_webhook_fails_the_generation_with_fal_s_reason(client, in_progress):
    body = {
        "request_id": "req-1",
        "status": "ERROR",
        "error": "Invalid status code: 422",
        "payload": {"detail": [{"loc": ["body", "image_url"], "msg": "Could not download the image"}]},
    }
    assert signed_post(client, body).json() == {"result": "recorded failure"}
    in_progress.refresh_from_db()
    assert in_progress.status == S.FAILED
    assert in_progress.error_code == "invalid_input"
    assert "image_url: Could not download the image" in in_progress.error_message


@pytest.mark.django_db
def test_a_late_webhook_never_moves_a_completed_generation_back(client, in_progress, archive_calls):
    Generation.objects.filter(pk=in_progress.pk).update(status=S.COMPLETED, video="v.mp4", video_sha256="c" * 64)
    body = {"request_id": "req-1", "status": "ERROR", "error": "late", "payload": None}
    assert signed_post(client, body).json() == {"result": "already handled"}
    assert Generation.objects.get(pk=in_progress.pk).status == S.COMPLETED


@pytest.mark.django_db
def test_webhook_reveals_the_request_id_of_a_submit_whose_answer_was_lost(client, generation, archive_calls):
    # The submit call reached fal but its answer never came back: pending, marker set, no id.
    Generation.objects.filter(pk=generation.pk).update(submit_started_at="2026-01-01T00:00:00Z")
    response = signed_post(client, ok_payload(request_id="req-late"), query=reference_query(generation))
    assert response.json() == {"result": "archiving"}
    generation.refresh_from_db()
    assert (generation.status, generation.fal_request_id) == (S.ARCHIVING, "req-late")
    adoption = AuditEvent.objects.get(action=AuditEvent.Action.WEBHOOK_ADOPT)
    assert adoption.generation == generation and adoption.details["request_id"] == "req-late"


@pytest.mark.django_db
def test_the_generation_code_cannot_redirect_a_webhook_to_another_request(
    client, in_progress, generation, archive_calls
):
    response = signed_post(client, ok_payload(request_id="req-other"), query=reference_query(in_progress))
    assert response.json() == {"result": "unknown request"}
    archive_calls.assert_not_called()


@pytest.mark.django_db
def test_a_key_rotation_is_picked_up(client, in_progress, archive_calls, published_keys):
    signed_post(client, ok_payload(request_id="req-x"))  # caches the old key set
    published_keys.return_value = _jwks(OTHER_KEY)
    with mock.patch("generations.fal_webhooks._may_refetch", return_value=True):
        response = signed_post(client, ok_payload(), key=OTHER_KEY)
    assert response.status_code == 200


@pytest.mark.django_db
def test_get_is_not_allowed(client):
    assert client.get(reverse("fal-webhook")).status_code == 405


# --- issue 11: fal's documented webhook behaviour, and webhooks that are not for us ----------


@pytest.mark.django_db
def test_the_signed_id_may_be_the_gateway_request_id(client, in_progress, archive_calls):
    # fal: request_id and gateway_request_id are mostly equal, but differ after fal retried a request.
    body = {**ok_payload(), "gateway_request_id": "gw-2"}
    response = signed_post(client, body, request_id="gw-2")
    assert response.json() == {"result": "archiving"}
    assert Generation.objects.get(pk=in_progress.pk).status == S.ARCHIVING


@pytest.mark.django_db
def test_a_generation_is_matched_by_either_id(client, in_progress, archive_calls):
    Generation.objects.filter(pk=in_progress.pk).update(fal_request_id="gw-2")
    body = {**ok_payload(request_id="req-queue"), "gateway_request_id": "gw-2"}
    assert signed_post(client, body, request_id="req-queue").json() == {"result": "archiving"}


@pytest.mark.django_db
def test_a_signed_id_that_is_neither_of_the_body_s_ids_is_refused(client, in_progress, archive_calls):
    body = {**ok_payload(), "gateway_request_id": "gw-2"}
    assert signed_post(client, body, request_id="someone-else").status_code == 400
    archive_calls.assert_not_called()


@pytest.mark.django_db
def test_an_ok_webhook_without_its_payload_fetches_the_result_through_the_queue(client, in_progress):
    # fal: payload is null when the output could not be put in the webhook; payload_error says why.
    body = {**ok_payload(), "payload": None, "payload_error": "Payload too large"}
    with mock.patch("generations.pipeline._schedule_poll", autospec=True) as poll:
        assert signed_post(client, body).json() == {"result": "fetching the result"}
    poll.assert_called_once_with(in_progress.pk, 0)
    in_progress.refresh_from_db()
    assert in_progress.status == S.IN_PROGRESS and in_progress.error_code == ""  # not failed: fetched next


@pytest.mark.django_db
def test_a_content_policy_refusal_is_its_own_failure(client, in_progress):
    body = {
        "request_id": "req-1",
        "status": "ERROR",
        "error": "Invalid status code: 422",
        "payload": {
            "detail": [
                {"loc": ["body", "prompt"], "msg": "flagged by a content checker", "type": "content_policy_violation"}
            ]
        },
    }
    assert signed_post(client, body).json() == {"result": "recorded failure"}
    in_progress.refresh_from_db()
    assert in_progress.error_code == "content_policy_violation"
    assert "flagged by a content checker" in in_progress.error_message
    # It was running: fal may bill a refused input, so the estimate stays counted.
    assert in_progress.cost == in_progress.estimated_cost > 0
    assert in_progress.cost_note.startswith("May be charged")


@pytest.mark.django_db
def test_a_server_error_webhook_settles_to_nothing(client, in_progress):
    body = {
        "request_id": "req-1",
        "status": "ERROR",
        "error": "Invalid status code: 504",
        "payload": {"detail": "Request timed out", "error_type": "request_timeout"},
    }
    assert signed_post(client, body).json() == {"result": "recorded failure"}
    in_progress.refresh_from_db()
    assert (in_progress.status, in_progress.error_code, in_progress.cost) == (S.FAILED, "request_timeout", 0)


@pytest.mark.django_db
def test_a_video_url_off_fal_s_media_hosts_is_not_taken(client, in_progress, archive_calls):
    response = signed_post(client, ok_payload(url="https://attacker.example/files/x.mp4"))
    assert response.json() == {"result": "failed"}
    in_progress.refresh_from_db()
    assert in_progress.error_code == "fal_bad_output" and in_progress.fal_video_url == ""
    archive_calls.assert_not_called()


@pytest.mark.django_db
@pytest.mark.parametrize("timestamp", ["9" * 400, "1e9", "-5", "١٢٣", " 123"])
def test_hostile_timestamps_get_401_not_500(client, in_progress, timestamp):
    raw = json.dumps(ok_payload()).encode()
    response = client.post(
        reverse("fal-webhook"),
        data=raw,
        content_type="application/json",
        headers={
            "X-Fal-Webhook-Request-Id": "req-1",
            "X-Fal-Webhook-User-Id": "user-1",
            "X-Fal-Webhook-Timestamp": timestamp,
            "X-Fal-Webhook-Signature": "00" * 64,
        },
    )
    assert response.status_code == 401
    assert "timestamp" in response.json()["error"].lower()


# A stranger's genuinely signed webhook (fal signs every customer's alike) aimed at our URL.


@pytest.mark.django_db
def test_an_unsigned_generation_code_adopts_nothing(client, generation, archive_calls):
    Generation.objects.filter(pk=generation.pk).update(submit_started_at="2026-01-01T00:00:00Z")
    response = signed_post(client, ok_payload(request_id="stranger"), query=f"?generation={generation.code}")
    assert response.json() == {"result": "unknown request"}
    generation.refresh_from_db()
    assert (generation.status, generation.fal_request_id) == (S.PENDING, "")
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.WEBHOOK_ADOPT).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "fields"),
    [
        (S.PENDING, {}),  # never sent: its own submit will send it
        (S.FAILED, {"error_code": "invalid_input"}),  # failed for another reason
        (S.CANCELLED, {"error_code": "cancelled"}),
    ],
    ids=["pending-unsent", "failed", "cancelled"],
)
def test_a_signed_reference_adopts_only_a_generation_whose_own_submit_is_in_doubt(
    client, generation, archive_calls, status, fields
):
    Generation.objects.filter(pk=generation.pk).update(status=status, **fields)
    response = signed_post(client, ok_payload(request_id="stranger"), query=reference_query(generation))
    assert response.json() == {"result": "unknown request"}
    generation.refresh_from_db()
    assert (generation.status, generation.fal_request_id, generation.cost) == (status, "", generation.cost)
    archive_calls.assert_not_called()


@pytest.mark.django_db
def test_an_uncertain_submit_that_failed_is_adopted_when_fal_reveals_it(client, generation, archive_calls):
    # Its submit may have reached fal; after the grace it failed as uncertain. fal's webhook (to
    # the URL only we could have given it) proves it ran: the paid video is kept, and audited.
    Generation.objects.filter(pk=generation.pk).update(
        status=S.FAILED, error_code="submit_uncertain", submit_started_at="2026-01-01T00:00:00Z", cost=0
    )
    response = signed_post(client, ok_payload(request_id="req-late"), query=reference_query(generation))
    assert response.json() == {"result": "archiving"}
    generation.refresh_from_db()
    assert (generation.status, generation.fal_request_id) == (S.ARCHIVING, "req-late")
    event = AuditEvent.objects.get(action=AuditEvent.Action.WEBHOOK_ADOPT)
    assert event.details == {"request_id": "req-late", "fal_user_id": "user-1", "status_before": "failed"}


@pytest.mark.django_db
def test_a_reference_is_not_adopted_from_another_fal_account(client, generation, in_progress, archive_calls):
    # A webhook of a request we made teaches us our account's user id ("user-1").
    signed_post(client, ok_payload())
    assert Generation.objects.get(pk=in_progress.pk).fal_user_id == "user-1"
    other = services_generation(generation)
    Generation.objects.filter(pk=other.pk).update(submit_started_at="2026-01-01T00:00:00Z")
    body = ok_payload(request_id="stranger")
    response = signed_post(client, body, query=reference_query(other), user_id="someone-else")
    assert response.json() == {"result": "unknown request"}
    assert Generation.objects.get(pk=other.pk).fal_request_id == ""
    # Our own account's webhook for the same generation is adopted.
    response = signed_post(client, ok_payload(request_id="ours"), query=reference_query(other))
    assert response.json() == {"result": "archiving"}


def services_generation(like):
    from generations import services

    return services.generation_create(
        source_image=like.source_image,
        prompt=like.prompt,
        params=services.GenerationParams(seed=7),
        requested_by=like.requested_by,
        submit=False,
    )
