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

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.cache import cache
from django.urls import reverse

from generations import lifecycle
from generations.models import Generation

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


def signed_post(client, body: dict, *, key=PRIVATE_KEY, timestamp=None, request_id=None, query="", tamper=False):
    raw = json.dumps(body).encode()
    request_id = request_id or body["request_id"]
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    message = "\n".join([request_id, "user-1", timestamp, hashlib.sha256(raw).hexdigest()]).encode()
    signature = key.sign(message).hex()
    if tamper:
        raw = raw.replace(b"OK", b"KO")
    return client.post(
        reverse("fal-webhook") + query,
        data=raw,
        content_type="application/json",
        headers={
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": "user-1",
            "X-Fal-Webhook-Timestamp": timestamp,
            "X-Fal-Webhook-Signature": signature,
        },
    )


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
    response = signed_post(client, ok_payload(request_id="req-late"), query=f"?generation={generation.code}")
    assert response.json() == {"result": "archiving"}
    generation.refresh_from_db()
    assert (generation.status, generation.fal_request_id) == (S.ARCHIVING, "req-late")


@pytest.mark.django_db
def test_the_generation_code_cannot_redirect_a_webhook_to_another_request(
    client, in_progress, generation, archive_calls
):
    response = signed_post(client, ok_payload(request_id="req-other"), query=f"?generation={in_progress.code}")
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
