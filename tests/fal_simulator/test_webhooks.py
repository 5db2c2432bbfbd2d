"""Webhooks: fal's payload, signed with Ed25519 verifiable through the JWKS; retries, duplicates, drops, delays."""

from __future__ import annotations

import json
import ssl
import time

import httpx

from fal_simulator.server import ENDPOINT_ID
from fal_simulator.signing import verify

from .helpers import arguments, wait_until


def fetch_jwks(sim) -> dict:
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    return httpx.get(sim.jwks_url, verify=context).json()


def test_a_signed_webhook_verifies_with_the_jwks(fal, sim, receiver, image_uri):
    handle = fal.submit(ENDPOINT_ID, arguments(image_uri), webhook_url=receiver.url)
    [call] = receiver.wait_for(1)
    body, headers = call["body"], call["headers"]

    payload = json.loads(body)
    assert payload["request_id"] == handle.request_id
    assert payload["gateway_request_id"] == sim.job(handle.request_id).gateway_request_id
    assert payload["status"] == "OK"
    assert payload["error"] is None
    assert payload["payload"] == handle.get()
    assert headers["X-Fal-Webhook-Request-Id"] == handle.request_id
    assert headers["X-Fal-Webhook-User-Id"]
    assert abs(int(headers["X-Fal-Webhook-Timestamp"]) - time.time()) < 30

    jwks = fetch_jwks(sim)
    [key] = jwks["keys"]
    assert (key["kty"], key["crv"]) == ("OKP", "Ed25519")
    assert verify(body, headers, jwks)
    assert not verify(body.replace(b'"OK"', b'"ERROR"'), headers, jwks)  # tampered body
    assert not verify(body, {**headers, "X-Fal-Webhook-Request-Id": "someone-else"}, jwks)
    assert not verify(body, headers, jwks, now=time.time() + 3600)  # too old


def test_the_submit_reports_a_gateway_request_id_with_a_webhook(http, receiver, image_uri):
    answer = http.post(f"/{ENDPOINT_ID}", params={"fal_webhook": receiver.url}, json=arguments(image_uri)).json()
    [call] = receiver.wait_for(1)
    assert json.loads(call["body"])["gateway_request_id"] == answer["gateway_request_id"]


def test_a_failed_request_sends_an_error_webhook(fal, receiver, image_uri):
    fal.submit(ENDPOINT_ID, arguments(image_uri, resolution="8k"), webhook_url=receiver.url)
    [call] = receiver.wait_for(1)
    payload = json.loads(call["body"])
    assert payload["status"] == "ERROR"
    assert payload["error"] == "Invalid status code: 422"
    assert payload["payload"]["detail"][0]["loc"] == ["body", "resolution"]


def test_webhook_delivery_is_retried(fal, sim, receiver, image_uri):
    receiver.fail_next = 2
    handle = fal.submit(ENDPOINT_ID, arguments(image_uri), webhook_url=receiver.url)
    calls = receiver.wait_for(3)
    assert [c["answered"] for c in calls] == [500, 500, 200]
    assert calls[1]["at"] - calls[0]["at"] >= 0.04  # backoff
    wait_until(lambda: sim.counters.get("webhook_deliveries", handle.request_id) == 1)
    assert sim.counters.get("webhook_attempts", handle.request_id) == 3


def test_webhook_gives_up_after_the_configured_attempts(fal, sim, receiver, image_uri):
    sim.configure(webhook_attempts=2)
    receiver.fail_next = 5
    handle = fal.submit(ENDPOINT_ID, arguments(image_uri), webhook_url=receiver.url)
    receiver.wait_for(2)
    wait_until(lambda: sim.counters.get("webhook_failures", handle.request_id) == 1)
    time.sleep(0.2)
    assert len(receiver.calls) == 2


def test_duplicate_late_and_dropped_webhooks(fal, sim, receiver, image_uri):
    sim.configure(webhook_duplicate=True)
    first = fal.submit(ENDPOINT_ID, arguments(image_uri), webhook_url=receiver.url)
    calls = receiver.wait_for(2)
    assert [json.loads(c["body"])["request_id"] for c in calls] == [first.request_id] * 2
    assert calls[0]["body"] == calls[1]["body"]

    sim.configure(webhook_duplicate=False, webhook_delay=0.6)
    late = fal.submit(ENDPOINT_ID, arguments(image_uri), webhook_url=receiver.url)
    completed_at = sim.wait(late.request_id).completed_at
    receiver.wait_for(3)
    assert receiver.calls[2]["at"] - completed_at >= 0.5

    sim.configure(webhook_delay=0, webhook_drop=True)
    dropped = fal.submit(ENDPOINT_ID, arguments(image_uri), webhook_url=receiver.url)
    sim.wait(dropped.request_id)
    time.sleep(0.2)
    assert len(receiver.calls) == 3
    assert sim.counters.get("webhooks_dropped", dropped.request_id) == 1


def test_the_webhook_key_survives_a_restart(sim, state_dir):
    from fal_simulator.server import FalSimulator

    before = fetch_jwks(sim)
    with FalSimulator(port=0, state_dir=state_dir, write_client_env=False) as other:
        assert fetch_jwks(other) == before
        assert other.ca_file.read_bytes() == sim.ca_file.read_bytes()
