"""The gateway to fal: the only module that imports `fal_client`.

Five calls (submit, status, result, cancel, upload), each translating fal's
answers and fal-client's exceptions into our own small vocabulary:
`RequestStatus` for the queue states and `FalError` (with `permanent` and
`uncertain` flags) for everything that went wrong, so the pipeline decides
between retrying, failing and "do not repeat, it may have reached fal".

Without FAL_KEY the gateway talks to the local fal simulator, reading how to
reach it from the `client.env` file the simulator writes when it starts. The
real fal-client reaches it by its own means: FAL_QUEUE_RUN_HOST (read by
fal-client once, at import) and a TLS CA given as SSL_CERT_FILE.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from seedance_studio.redaction import redact

from . import seedance

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_client_cache: dict[tuple, Any] = {}


class FalError(Exception):
    """A fal call that did not succeed.

    permanent: retrying cannot help (invalid input, bad key, unknown request).
    uncertain: a submit whose request may have reached fal (never repeat it blindly).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        permanent: bool,
        status_code: int | None = None,
        uncertain: bool = False,
    ):
        message = redact(message)  # fal may echo what it was sent, the key included
        super().__init__(message)
        self.message = message
        self.code = code
        self.permanent = permanent
        self.status_code = status_code
        self.uncertain = uncertain


class SimulatorNotRunning(FalError):
    def __init__(self, path: Path):
        super().__init__(
            f"No FAL_KEY is set, so the local fal simulator is used, but it is not running "
            f"({path} is missing). Start the app with `make run` (it starts the simulator), "
            f"or run `manage.py fal_simulator`, or set FAL_KEY to use fal.ai.",
            code="simulator_not_running",
            permanent=False,
        )


@dataclass(frozen=True)
class RequestStatus:
    state: str  # "IN_QUEUE", "IN_PROGRESS" or "COMPLETED"
    queue_position: int | None = None
    logs: list[dict] = field(default_factory=list)
    error: str | None = None  # fal reports failures as COMPLETED with an error
    error_type: str | None = None
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FalOutput:
    video_url: str
    seed: int | None
    raw: dict


@dataclass(frozen=True)
class Connection:
    key: str
    queue_host: str | None  # None: fal.ai's own queue.fal.run
    ca_file: str | None
    rest_url: str | None  # for uploads to the simulator (fal-client hard-codes fal's)
    cdn_url: str | None
    jwks_url: str
    simulated: bool


def connection() -> Connection:
    if not settings.FAL_SIMULATED:
        return Connection(
            key=settings.FAL_KEY,
            queue_host=os.environ.get("FAL_QUEUE_RUN_HOST") or None,
            ca_file=None,
            rest_url=None,
            cdn_url=None,
            jwks_url=settings.FAL_WEBHOOK_JWKS_URL,
            simulated=False,
        )
    env_file = Path(settings.FAL_SIMULATOR_STATE_DIR) / "client.env"
    try:
        lines = env_file.read_text().splitlines()
    except FileNotFoundError:
        raise SimulatorNotRunning(env_file) from None
    values = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    base = f"https://{values['FAL_QUEUE_RUN_HOST']}"
    return Connection(
        key=values.get("FAL_KEY", "simulated"),
        queue_host=values["FAL_QUEUE_RUN_HOST"],
        ca_file=values.get("SSL_CERT_FILE"),
        rest_url=base,
        cdn_url=base,
        jwks_url=values.get("FAL_SIMULATOR_JWKS_URL", f"{base}/.well-known/jwks.json"),
        simulated=True,
    )


def configure_process() -> Connection:
    """Point this process's HTTP clients at the current fal (or simulator) connection.

    Idempotent. Called before any fal call, and before an archive downloads from fal's
    media URL (the simulator serves those over TLS from its own CA).
    """
    conn = connection()
    if conn.queue_host:
        os.environ["FAL_QUEUE_RUN_HOST"] = conn.queue_host  # read by fal-client at import
    if conn.ca_file:
        os.environ["SSL_CERT_FILE"] = conn.ca_file  # httpx trusts the simulator's CA (plus the public roots)
    return conn


def _client():
    """A fal-client SyncClient for the current connection, configured once per process."""
    conn = configure_process()
    cache_key = (conn.key, conn.queue_host, conn.ca_file)
    with _lock:
        cached = _client_cache.get(cache_key)
        if cached is not None:
            return cached
        import fal_client
        import fal_client.client as fal_module

        if conn.queue_host:
            # Already imported with another host (a long-lived process whose simulator moved): follow it.
            fal_module.QUEUE_URL_FORMAT = f"https://{conn.queue_host}/"
        if conn.rest_url:
            # fal-client has no setting for its upload hosts; these module globals are read per call.
            fal_module.REST_URL = conn.rest_url
            fal_module.CDN_URL = conn.cdn_url
        fal_module.MAX_ATTEMPTS = max(1, settings.FAL_CLIENT_MAX_ATTEMPTS)
        client = fal_client.SyncClient(key=conn.key, default_timeout=settings.FAL_CLIENT_TIMEOUT)
        _client_cache.clear()
        _client_cache[cache_key] = client
        return client


def submit(arguments: dict, *, webhook_url: str | None = None) -> str:
    """Put a request on fal's queue; returns its request id."""
    try:
        # start_timeout also makes fal-client give up, not re-send, when the answer is late:
        # a re-sent POST could queue a second paid job. We treat the timeout as uncertain.
        handle = _client().submit(
            seedance.MODEL_ID, arguments, webhook_url=webhook_url, start_timeout=settings.FAL_START_TIMEOUT
        )
    except Exception as exc:
        raise _translate(exc, submitting=True) from exc
    return handle.request_id


def status(request_id: str, *, with_logs: bool = True) -> RequestStatus:
    import fal_client

    try:
        answer = _client().status(seedance.MODEL_ID, request_id, with_logs=with_logs)
    except Exception as exc:
        raise _translate(exc) from exc
    if isinstance(answer, fal_client.Queued):
        return RequestStatus(state="IN_QUEUE", queue_position=answer.position)
    if isinstance(answer, fal_client.InProgress):
        return RequestStatus(state="IN_PROGRESS", logs=list(answer.logs or []))
    return RequestStatus(
        state="COMPLETED",
        logs=list(answer.logs or []),
        error=answer.error,
        error_type=answer.error_type,
        metrics=dict(answer.metrics or {}),
    )


def result(request_id: str) -> FalOutput:
    """The output of a completed request; a failed request raises its real error (e.g. 422)."""
    try:
        data = _client().result(seedance.MODEL_ID, request_id)
    except Exception as exc:
        raise _translate(exc) from exc
    return parse_output(data)


def parse_output(data: Any) -> FalOutput:
    try:
        url = data["video"]["url"]
    except (TypeError, KeyError):
        raise FalError(
            "fal reported success but its answer has no video URL.", code="fal_bad_output", permanent=True
        ) from None
    seed = data.get("seed")
    return FalOutput(video_url=url, seed=int(seed) if seed is not None else None, raw=data)


def cancel(request_id: str) -> bool:
    """Ask fal to cancel. Returns False when fal says the request already completed."""
    try:
        _client().cancel(seedance.MODEL_ID, request_id)
    except Exception as exc:
        error = _translate(exc)
        if error.status_code == 400 and "ALREADY_COMPLETED" in error.message:
            return False
        raise error from exc
    return True


def upload(content: bytes, *, content_type: str, file_name: str) -> str:
    """Upload bytes to fal's CDN; returns the public URL fal can read."""
    try:
        return _client().upload(content, content_type, file_name)
    except Exception as exc:
        raise _translate(exc) from exc


def jwks_url() -> str:
    return connection().jwks_url


def _translate(exc: Exception, *, submitting: bool = False) -> FalError:
    """Map fal-client / httpx exceptions onto FalError."""
    import fal_client

    if isinstance(exc, FalError):
        return exc
    if isinstance(exc, fal_client.FalClientHTTPError):
        return _http_error(exc.status_code, exc.message, exc.response_headers)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        # The request never left: safe to send again.
        return FalError(
            f"Could not connect to fal ({exc.__class__.__name__}).", code="fal_unreachable", permanent=False
        )
    if isinstance(exc, httpx.TransportError):
        # Sent, but the answer was lost: for a submit, fal may have queued (and will bill) it.
        return FalError(
            f"The connection to fal broke before it answered ({exc.__class__.__name__}).",
            code="fal_no_answer",
            permanent=False,
            uncertain=submitting,
        )
    if isinstance(exc, KeyError | ValueError):
        return FalError(f"fal's answer was not understood ({exc!r}).", code="fal_protocol", permanent=False)
    raise exc


def _http_error(status_code: int, message: Any, headers: dict) -> FalError:
    text = describe_fal_detail(message)
    if status_code == 422:
        return FalError(f"fal refused the input: {text}", code="invalid_input", permanent=True, status_code=422)
    if status_code in (401, 403):
        return FalError(
            "fal refused the API key (check FAL_KEY).", code="fal_auth", permanent=True, status_code=status_code
        )
    if status_code == 404:
        return FalError(f"fal does not know this request: {text}", code="not_found", permanent=True, status_code=404)
    if status_code in (408, 409, 429):
        return FalError(
            f"fal is busy ({status_code}): {text}", code="rate_limited", permanent=False, status_code=status_code
        )
    if status_code >= 500:
        error_type = headers.get("x-fal-error-type") or headers.get("X-Fal-Error-Type") or "server_error"
        return FalError(
            f"fal had a server error ({status_code}, {error_type}): {text}",
            code="fal_server_error",
            permanent=False,
            status_code=status_code,
        )
    return FalError(
        f"fal answered {status_code}: {text}", code="fal_http_error", permanent=True, status_code=status_code
    )


def describe_fal_detail(detail: Any) -> str:
    """fal's error detail (a string, or pydantic-style [{loc, msg}, ...]) as one readable sentence."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = [str(p) for p in item.get("loc", []) if p != "body"]
                where = ".".join(loc)
                msg = item.get("msg") or item.get("type") or "invalid"
                parts.append(f"{where}: {msg}" if where else str(msg))
            else:
                parts.append(str(item))
        return "; ".join(parts) or "no detail given"
    if isinstance(detail, dict):
        return str(detail.get("detail") or detail)
    return str(detail)[:2000]
