"""Webhook signatures as fal makes them: Ed25519 over request id, user id, timestamp and body hash.

The signed message is `"\\n".join([request_id, user_id, timestamp, sha256(raw_body).hexdigest()])`,
the signature travels hex-encoded in `X-Fal-Webhook-Signature`, and receivers verify it
against every key of a JWKS (`{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": base64url}]}`).
The simulator's key is kept in the state dir so a receiver's cached JWKS stays valid
across restarts. `verify()` is a reference implementation for tests.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .tls import state_lock, write_private

KEY_FILE = "webhook-ed25519.pem"
HEADER_REQUEST_ID = "X-Fal-Webhook-Request-Id"
HEADER_USER_ID = "X-Fal-Webhook-User-Id"
HEADER_TIMESTAMP = "X-Fal-Webhook-Timestamp"
HEADER_SIGNATURE = "X-Fal-Webhook-Signature"


def signed_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    return "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    text = text.rstrip("=")  # fal's own JWKS pads, others do not
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class WebhookSigner:
    def __init__(self, state_dir: Path):
        path = state_dir / KEY_FILE
        with state_lock(state_dir):
            if path.exists():
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(key, Ed25519PrivateKey):
                    raise ValueError(f"{path} is not an Ed25519 key")
            else:
                key = Ed25519PrivateKey.generate()
                pem = key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
                write_private(path, pem)
        self._key = key
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_x = _b64url(raw)

    def jwks(self) -> dict:
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": self.public_x, "use": "sig", "alg": "EdDSA"}]}

    def headers(self, body: bytes, *, request_id: str, user_id: str, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._key.sign(signed_message(request_id, user_id, stamp, body)).hex()
        return {
            HEADER_REQUEST_ID: request_id,
            HEADER_USER_ID: user_id,
            HEADER_TIMESTAMP: stamp,
            HEADER_SIGNATURE: signature,
        }


def verify(
    body: bytes, headers: Mapping[str, str], jwks: dict, *, max_age: int = 300, now: float | None = None
) -> bool:
    """True when the headers carry a fresh signature over `body` by one of the JWKS keys."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        request_id = lower[HEADER_REQUEST_ID.lower()]
        user_id = lower[HEADER_USER_ID.lower()]
        timestamp = lower[HEADER_TIMESTAMP.lower()]
        signature = bytes.fromhex(lower[HEADER_SIGNATURE.lower()])
        if abs((time.time() if now is None else now) - int(timestamp)) > max_age:
            return False
    except (KeyError, ValueError):
        return False
    message = signed_message(request_id, user_id, timestamp, body)
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        try:
            Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk["x"])).verify(signature, message)
            return True
        except (InvalidSignature, ValueError, KeyError):
            continue
    return False
