"""Verifying fal's webhook signatures (ED25519 over a JWKS key set fal publishes).

The signed message is request id, user id, timestamp and the SHA-256 of the raw
body, joined by newlines. A signature is accepted if any key of the set verifies
it and the timestamp is recent. The key set is cached; an unknown signature
triggers at most one refetch a minute, so a key rotation at fal is picked up.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.cache import cache

from . import fal_gateway

JWKS_CACHE_SECONDS = 24 * 3600
JWKS_REFETCH_MIN_SECONDS = 60
# How long `fal_check` (and an operator) can see that a webhook for a request arrived and verified.
SEEN_SECONDS = 3600
# Longest header value taken: fal's ids are UUIDs, a timestamp is ten digits.
MAX_HEADER_CHARS = 256


class WebhookRejected(Exception):
    pass


@dataclass(frozen=True)
class SignedWebhook:
    """What the signature vouches for: the request id and fal account (user id) it was signed with."""

    request_id: str
    user_id: str


def verify(headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> SignedWebhook:
    """Check a webhook's signature; returns what it signs or raises WebhookRejected."""
    names = ("X-Fal-Webhook-Request-Id", "X-Fal-Webhook-User-Id", "X-Fal-Webhook-Timestamp", "X-Fal-Webhook-Signature")
    values = [headers.get(name, "") for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise WebhookRejected(f"Missing header(s): {', '.join(missing)}.")
    too_long = [name for name, value in zip(names, values, strict=True) if len(value) > MAX_HEADER_CHARS]
    if too_long:
        raise WebhookRejected(f"Header(s) longer than {MAX_HEADER_CHARS} characters: {', '.join(too_long)}.")
    request_id, user_id, timestamp, signature_hex = values
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise WebhookRejected("The timestamp is not a number of seconds.")
    age = abs((now or time.time()) - int(timestamp))
    if age > settings.FAL_WEBHOOK_MAX_AGE:
        raise WebhookRejected(
            f"The signature is {int(age)} s old; at most {settings.FAL_WEBHOOK_MAX_AGE} s is accepted."
        )
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise WebhookRejected("The signature is not hexadecimal.") from None
    message = "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode()
    if _verifies(message, signature, _keys()) or (
        _may_refetch() and _verifies(message, signature, _keys(refresh=True))
    ):
        return SignedWebhook(request_id=request_id, user_id=user_id)
    raise WebhookRejected("The signature does not match any of fal's published keys.")


def remember_verified(signed: SignedWebhook, *, outcome: str, also: str | None = None) -> None:
    """Note that a verified webhook for this request arrived (read by `fal_check`), under the
    signed id and `also` the queue's request id (fal may sign its gateway id instead)."""
    seen = {"user_id": signed.user_id, "outcome": outcome, "at": time.time()}
    for request_id in {signed.request_id, also} - {None, ""}:
        cache.set(f"fal-webhook-seen:{request_id[:MAX_HEADER_CHARS]}", seen, SEEN_SECONDS)


def verified_webhook(request_id: str) -> dict | None:
    """{"user_id", "outcome", "at"} of a verified webhook received for `request_id`, if any (last hour)."""
    return cache.get(f"fal-webhook-seen:{request_id}")


def _verifies(message: bytes, signature: bytes, keys: list[Ed25519PublicKey]) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
            return True
        except InvalidSignature:
            continue
    return False


def _cache_key() -> str:
    return "fal-jwks:" + hashlib.sha256(fal_gateway.jwks_url().encode()).hexdigest()[:16]


def _keys(*, refresh: bool = False) -> list[Ed25519PublicKey]:
    key = _cache_key()
    raw = None if refresh else cache.get(key)
    if raw is None:
        raw = _fetch_jwks()
        cache.set(key, raw, JWKS_CACHE_SECONDS)
        cache.set(key + ":fetched", time.time(), JWKS_CACHE_SECONDS)
    return [
        Ed25519PublicKey.from_public_bytes(_b64url(k["x"]))
        for k in raw
        if k.get("kty") == "OKP" and k.get("crv") == "Ed25519" and k.get("x")
    ]


def _may_refetch() -> bool:
    fetched = cache.get(_cache_key() + ":fetched") or 0
    return time.time() - fetched > JWKS_REFETCH_MIN_SECONDS


def _fetch_jwks() -> list[dict]:
    conn = fal_gateway.connection()
    try:
        trust = ssl.create_default_context(cafile=conn.ca_file) if conn.ca_file else True
        response = httpx.get(conn.jwks_url, timeout=10, verify=trust)
        response.raise_for_status()
        return list(response.json()["keys"])
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise WebhookRejected(f"fal's key set could not be fetched ({exc.__class__.__name__}).") from exc


def _b64url(value: str) -> bytes:
    # Some published key sets pad `x` with "=", some do not.
    value = value.rstrip("=")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
