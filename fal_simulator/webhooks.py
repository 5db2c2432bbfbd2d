"""Webhook delivery: fal's payload, signed, POSTed with retries; late, twice or never on request.

Payload: `{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload", "error"}`,
where `payload` is what the result route answers (the output, or the error body) and
`error` reads like fal's "Invalid status code: 422"; with `webhook_payload_error` an OK
webhook carries `payload: null` and `payload_error` instead (fal does when the output does
not fit). The signature covers `webhook_signed_id` (request_id by default; fal's two ids
differ after it retried a request). Every attempt is signed afresh
(new timestamp). A delivery succeeds on any 2xx; otherwise it is retried
`webhook_attempts` times in all, with a backoff that starts at `webhook_retry_delay`
and doubles (fal itself retries 10 times over 2 hours).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from .faults import Switches
from .jobs import Job
from .signing import WebhookSigner
from .stats import Stats

logger = logging.getLogger(__name__)


def webhook_payload(job: Job, switches: Switches | None = None) -> dict:
    outcome = job.outcome
    assert outcome is not None
    body = {
        "request_id": job.id,
        "gateway_request_id": job.gateway_request_id or job.id,
        "status": "OK" if outcome.ok else "ERROR",
        "payload": outcome.body,
        "error": None if outcome.ok else f"Invalid status code: {outcome.status_code}",
    }
    if outcome.ok and switches is not None and switches.webhook_payload_error:
        body["payload"] = None
        body["payload_error"] = "Response payload is too large to be delivered in a webhook (simulated)."
    return body


class WebhookSender:
    def __init__(
        self,
        *,
        signer: WebhookSigner,
        user_id: str,
        ssl_context: ssl.SSLContext,
        switches: Callable[[], Switches],
        stats: Stats,
        stopping: threading.Event,
    ):
        self._signer = signer
        self._user_id = user_id
        self._ssl_context = ssl_context
        self._switches = switches
        self._stats = stats
        self._stopping = stopping
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fal-sim-webhook")

    def send(self, job: Job) -> None:
        if not job.webhook_url:
            return
        switches = self._switches()
        payload = webhook_payload(job, switches)
        signed_id = payload["gateway_request_id"] if switches.webhook_signed_id == "gateway_request_id" else job.id
        body = json.dumps(payload).encode()
        self._pool.submit(self._deliver, signed_id, job.webhook_url, body)

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _deliver(self, request_id: str, url: str, body: bytes) -> None:
        switches = self._switches()
        if switches.webhook_drop:
            self._stats.count("webhooks_dropped", request_id)
            logger.info("webhook for %s dropped (webhook_drop)", request_id)
            return
        if switches.webhook_delay and self._stopping.wait(switches.webhook_delay):
            return
        for delivery in range(1, 3 if switches.webhook_duplicate else 2):
            self._deliver_once(request_id, url, body, delivery, switches)

    def _deliver_once(self, request_id: str, url: str, body: bytes, delivery: int, switches: Switches) -> bool:
        delay = switches.webhook_retry_delay
        # Proxies from the environment are ignored: receivers are local (the Django dev server on loopback).
        with httpx.Client(verify=self._ssl_context, timeout=switches.webhook_timeout, trust_env=False) as client:
            for attempt in range(1, switches.webhook_attempts + 1):
                if self._stopping.is_set():
                    return False
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "fal-simulator-webhook/1.0",
                    **self._signer.headers(
                        body, request_id=request_id, user_id=switches.webhook_user_id or self._user_id
                    ),
                }
                record = {
                    "request_id": request_id,
                    "url": url,
                    "delivery": delivery,
                    "attempt": attempt,
                    "at": time.time(),
                }
                self._stats.count("webhook_attempts", request_id)
                try:
                    response = client.post(url, content=body, headers=headers)
                    record["status_code"] = response.status_code
                    ok = 200 <= response.status_code < 300
                except httpx.HTTPError as exc:
                    record["error"] = f"{type(exc).__name__}: {exc}"
                    ok = False
                self._stats.webhook(record)
                if ok:
                    self._stats.count("webhook_deliveries", request_id)
                    logger.info("webhook for %s delivered (delivery %d, attempt %d)", request_id, delivery, attempt)
                    return True
                logger.warning(
                    "webhook for %s failed (attempt %d): %s",
                    request_id,
                    attempt,
                    record.get("error") or record.get("status_code"),
                )
                if attempt < switches.webhook_attempts and self._stopping.wait(delay):
                    return False
                delay *= 2
        self._stats.count("webhook_failures", request_id)
        return False
