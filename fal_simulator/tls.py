"""A local certificate authority, kept in the state dir, and the TLS contexts built on it.

fal-client only speaks https, so the simulator serves TLS with a certificate for
localhost/127.0.0.1 signed by its own CA. The CA is created once and persisted, so a
restarted simulator is still trusted by clients that were pointed at `ca.pem`.
`ca-bundle.pem` is that CA plus certifi's public roots: used as SSL_CERT_FILE it
makes httpx trust the simulator without losing the real internet's CAs.
"""

from __future__ import annotations

import fcntl
import os
import ssl
from contextlib import contextmanager
from pathlib import Path

import certifi
import trustme

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
BUNDLE_FILE = "ca-bundle.pem"


@contextmanager
def state_lock(state_dir: Path):
    """Serialises first-time creation of keys between simulators sharing a state dir."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_private(path: Path, data: bytes) -> None:
    """Writes a secret atomically, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def load_or_create_ca(state_dir: Path) -> trustme.CA:
    with state_lock(state_dir):
        cert_path, key_path = state_dir / CA_FILE, state_dir / CA_KEY_FILE
        if cert_path.exists() and key_path.exists():
            return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
        ca = trustme.CA(organization_name="Seedance Studio fal simulator")
        write_private(key_path, ca.private_key_pem.bytes())
        cert_path.write_bytes(ca.cert_pem.bytes())
        return ca


def write_bundle(state_dir: Path) -> Path:
    bundle = state_dir / BUNDLE_FILE
    data = Path(certifi.where()).read_bytes().rstrip(b"\n") + b"\n" + (state_dir / CA_FILE).read_bytes()
    if not bundle.exists() or bundle.read_bytes() != data:
        tmp = bundle.with_name(f".{bundle.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, bundle)
    return bundle


def server_context(ca: trustme.CA, hostnames: list[str]) -> ssl.SSLContext:
    """A server context with a fresh leaf certificate for `hostnames` (cheap, so not persisted)."""
    leaf = ca.issue_cert(*dict.fromkeys(hostnames))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    leaf.configure_cert(context)
    return context


def client_context(state_dir: Path) -> ssl.SSLContext:
    """What the simulator itself trusts when it fetches images or posts webhooks: public roots + its own CA."""
    context = ssl.create_default_context(cafile=certifi.where())
    context.load_verify_locations(cafile=str(state_dir / CA_FILE))
    return context
