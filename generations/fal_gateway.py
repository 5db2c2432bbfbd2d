"""The gateway to fal: the only module that imports `fal_client`.

Five calls (submit, status, result, cancel, upload), each translating fal's
answers and fal-client's exceptions into our own small vocabulary:
`RequestStatus` for the queue states and `FalError` (with `permanent` and
`uncertain` flags) for everything that went wrong, so the pipeline decides
between retrying, failing and "do not repeat, it may have reached fal".

What it relies on fal (and fal-client) to do is listed, with sources, in docs/fal-contract.md;
a new assumption goes there first.

Without FAL_KEY the gateway talks to the local fal simulator, reading how to
reach it from the `client.env` file the simulator writes when it starts. The
real fal-client reaches it by its own means: FAL_QUEUE_RUN_HOST (read by
fal-client once, at import) and a TLS CA given as SSL_CERT_FILE.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
        detail: Any = None,
        error_type: str | None = None,
    ):
        message = redact(message)  # fal may echo what it was sent, the key included
        super().__init__(message)
        self.message = message
        self.code = code
        self.permanent = permanent
        self.status_code = status_code
        self.uncertain = uncertain
        self.detail = detail  # fal's error detail as it came (a 422's list of items)
        self.error_type = error_type


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


class SubmitNotRepeated(Exception):
    """fal-client tried to send a submit POST a second time; it was stopped before leaving.

    `first_status` / `first_error` say how the one POST that did leave ended.
    """

    def __init__(self, first_status: int | None, first_error: BaseException | None, first_headers: dict):
        super().__init__("fal-client wanted to send the submit again; not sent")
        self.first_status = first_status
        self.first_error = first_error
        self.first_headers = first_headers


class _OnePostPerSubmit(httpx.BaseTransport):
    """Wraps fal-client's transport so that one `submit()` call sends its POST at most once.

    fal-client re-sends any call after a transport error or a 408/409/429/ingress answer
    (`_maybe_retry_request`), a submit included: a reset after fal read the body would
    queue (and bill) a second job. While `single_attempt()` is active in a thread, a second
    request in that thread raises SubmitNotRepeated, which is no httpx error, so fal-client
    does not retry it but lets it out; the gateway then decides from how the first ended.
    Status, result, cancel and other threads' calls pass through untouched.
    """

    def __init__(self, inner: httpx.BaseTransport):
        self._inner = inner
        self._local = threading.local()

    @contextlib.contextmanager
    def single_attempt(self):
        self._local.attempt = {"sent": False, "status": None, "error": None, "headers": {}}
        try:
            yield
        finally:
            self._local.attempt = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = getattr(self._local, "attempt", None)
        if attempt is None:
            return self._inner.handle_request(request)
        if attempt["sent"]:
            raise SubmitNotRepeated(attempt["status"], attempt["error"], attempt["headers"])
        attempt["sent"] = True
        try:
            response = self._inner.handle_request(request)
        except BaseException as exc:
            attempt["error"] = exc
            raise
        attempt["status"] = response.status_code
        attempt["headers"] = dict(response.headers)
        return response

    def close(self) -> None:
        self._inner.close()


def _client():
    """(fal-client SyncClient, its submit guard) for the current connection, made once per process."""
    conn = configure_process()
    cache_key = (conn.key, conn.queue_host, conn.ca_file, settings.FAL_CLIENT_TIMEOUT, settings.FAL_CLIENT_MAX_ATTEMPTS)
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
        # fal-client's own HTTP client (its headers, timeout, redirects and backup-domain
        # transport), with that transport wrapped so a submit leaves at most once.
        original = client._client
        guard = _OnePostPerSubmit(fal_module.BackupDomainTransport())
        client.__dict__["_client"] = httpx.Client(
            transport=guard,
            headers=original.headers,
            timeout=original.timeout,
            follow_redirects=original.follow_redirects,
        )
        original.close()
        _client_cache.clear()
        _client_cache[cache_key] = (client, guard)
        return client, guard


def submit(arguments: dict, *, webhook_url: str | None = None) -> str:
    """Put a request on fal's queue, sending the POST exactly once; returns its request id.

    Raises FalError: `uncertain` when the POST may have reached fal (never send it again),
    retryable and certain when fal's answer proves it did not take it (docs/fal-contract.md).
    """
    client, guard = _client()
    try:
        with guard.single_attempt():
            handle = client.submit(
                seedance.MODEL_ID, arguments, webhook_url=webhook_url, start_timeout=settings.FAL_START_TIMEOUT
            )
    except SubmitNotRepeated as stopped:
        raise _first_submit_outcome(stopped) from stopped.first_error
    except Exception as exc:
        raise _translate(exc, submitting=True) from exc
    return handle.request_id


def _first_submit_outcome(stopped: SubmitNotRepeated) -> FalError:
    """What the one submit POST that left proves, now that fal-client's re-send was stopped."""
    if stopped.first_error is not None:
        return _translate(stopped.first_error, submitting=True)
    status_code = stopped.first_status or 0
    headers = {k.lower(): v for k, v in stopped.first_headers.items()}
    if status_code == 504 and "x-fal-request-id" not in headers:
        # An ingress (nginx) gateway timeout: the queue behind it may have taken the request.
        return FalError(
            "fal's front door timed out (504) before the queue answered; the request may have been queued.",
            code="fal_no_answer",
            permanent=False,
            status_code=504,
            uncertain=True,
        )
    return _http_error(status_code, f"fal answered {status_code} and did not queue the request", headers)


def status(request_id: str, *, with_logs: bool = True) -> RequestStatus:
    import fal_client

    try:
        answer = _client()[0].status(seedance.MODEL_ID, request_id, with_logs=with_logs)
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
        data = _client()[0].result(seedance.MODEL_ID, request_id)
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
    if not isinstance(url, str) or not media_url_allowed(url):
        raise FalError(
            f"fal's answer names a video at {str(url)[:200]!r}, which is not an https URL on fal's media hosts "
            f"({', '.join(media_hosts())}); it was not downloaded.",
            code="fal_bad_output",
            permanent=True,
        )
    seed = data.get("seed")
    try:
        seed = int(seed) if seed is not None else None
    except (TypeError, ValueError):
        seed = None
    if seed is not None and not 0 <= seed <= seedance.MAX_SEED:
        seed = None  # not a seed Seedance can take back: not stored
    return FalOutput(video_url=url, seed=seed, raw=data)


def media_hosts() -> list[str]:
    """The hosts fal's videos may be downloaded from (and redirected to): FAL_MEDIA_HOSTS, plus the simulator."""
    hosts = list(settings.FAL_MEDIA_HOSTS)
    if settings.FAL_SIMULATED:
        with contextlib.suppress(FalError):
            queue_host = connection().queue_host or ""
            hosts.append(urlsplit(f"https://{queue_host}").hostname or "")
    return [h for h in hosts if h]


def media_url_allowed(url: str) -> bool:
    """An https URL on one of media_hosts() (the domain itself or a subdomain)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme != "https" or not host:
        return False
    return any(host == allowed or host.endswith("." + allowed) for allowed in media_hosts())


# --- fal's failures, in our words -------------------------------------------

# fal's request (infrastructure) error types: answered 5xx (or 499 for a cancel), never
# billed (docs/fal-contract.md, "Billing of failures").
INFRA_ERROR_TYPES = frozenset(
    {
        "request_timeout",
        "startup_timeout",
        "runner_scheduling_failure",
        "runner_connection_timeout",
        "runner_disconnected",
        "runner_connection_refused",
        "runner_connection_error",
        "runner_incomplete_response",
        "runner_server_error",
        "internal_error",
        "client_cancelled",
        "client_disconnected",
    }
)
CONTENT_POLICY = "content_policy_violation"


@dataclass(frozen=True)
class FalFailure:
    """How fal ended a request without a video: our error code, the words, and whether fal may bill it."""

    code: str
    message: str
    may_be_billed: bool


def failure_of(
    *, error: str | None, error_type: str | None, status_code: int | None, detail: Any = None, started: bool
) -> FalFailure:
    """One reading of fal's failure, whether it came by status, result or webhook.

    Server errors (5xx, fal's request error types) are never billed; a model's refusal
    (422) may be, when a runner already spent GPU time on it (`started`). A content-policy
    refusal is taken as billed: the checker runs on the runner (docs/fal-contract.md).
    """
    types = _detail_types(detail)
    # fal's own word for it, when it is one we can keep as a code.
    fal_type = error_type if error_type and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", error_type) else None
    if fal_type == CONTENT_POLICY or CONTENT_POLICY in types:
        code = CONTENT_POLICY
    elif fal_type in INFRA_ERROR_TYPES:
        code = fal_type
    elif status_code == 422 or types:
        code = "invalid_input"
    else:
        code = fal_type or "fal_error"
    words = describe_fal_detail(detail) if detail else ""
    if not words or words == "no detail given":
        words = str(error or error_type or "no reason given")[:2000]
    server_side = (status_code is not None and status_code >= 500) or code in INFRA_ERROR_TYPES
    billed_kind = not server_side and (status_code in (None, 422))
    may_be_billed = billed_kind and (started or code == CONTENT_POLICY)
    return FalFailure(code=code, message=f"fal ended the request with an error: {words}", may_be_billed=may_be_billed)


def _detail_types(detail: Any) -> set[str]:
    if isinstance(detail, list):
        return {str(item.get("type")) for item in detail if isinstance(item, dict) and item.get("type")}
    return set()


def cancel(request_id: str) -> bool:
    """Ask fal to cancel. Returns False when fal says the request already completed."""
    try:
        _client()[0].cancel(seedance.MODEL_ID, request_id)
    except Exception as exc:
        error = _translate(exc)
        if error.status_code == 400 and "ALREADY_COMPLETED" in error.message:
            return False
        raise error from exc
    return True


def upload(content: bytes, *, content_type: str, file_name: str) -> str:
    """Upload bytes to fal's CDN; returns the public URL fal can read."""
    try:
        return _client()[0].upload(content, content_type, file_name)
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
        return _http_error(exc.status_code, exc.message, exc.response_headers, error_type=exc.error_type)
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


def _http_error(status_code: int, message: Any, headers: dict, *, error_type: str | None = None) -> FalError:
    text = describe_fal_detail(message)
    error_type = error_type or {k.lower(): v for k, v in headers.items()}.get("x-fal-error-type")
    if status_code == 422:
        code = CONTENT_POLICY if CONTENT_POLICY in _detail_types(message) | {error_type} else "invalid_input"
        return FalError(
            f"fal refused the input: {text}",
            code=code,
            permanent=True,
            status_code=422,
            detail=message,
            error_type=error_type,
        )
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
        return FalError(
            f"fal had a server error ({status_code}, {error_type or 'server_error'}): {text}",
            code="fal_server_error",
            permanent=False,
            status_code=status_code,
            detail=message,
            error_type=error_type,
        )
    return FalError(
        f"fal answered {status_code}: {text}",
        code="fal_http_error",
        permanent=True,
        status_code=status_code,
        detail=message,
        error_type=error_type,
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
