"""A local HTTPS server that speaks fal's queue protocol for Seedance 1.0 Pro Fast image-to-video.

It knows nothing about fal that docs/fal-contract.md does not list (with its source); that page
also says which switch reproduces each documented behaviour.

    sim = FalSimulator(port=0, state_dir=Path("var/fal-simulator"), concurrency=2)
    sim.start()                       # returns once it is listening
    env = sim.client_env()            # FAL_QUEUE_RUN_HOST, SSL_CERT_FILE, FAL_KEY, FAL_SIMULATOR_JWKS_URL, ...
    ...
    sim.stop()

Queue (what fal_client.submit/status/result/cancel call, as fal-client 1.0.3 expects them):
    POST /fal-ai/bytedance/seedance/v1/pro/fast/image-to-video[?fal_webhook=URL]
    GET  /fal-ai/bytedance/requests/{id}/status?logs=true|false|1|0   (202 while pending, 200 when COMPLETED)
    GET  /fal-ai/bytedance/requests/{id}/status/stream                 (SSE, like fal's; fal-client does not use it)
    GET  /fal-ai/bytedance/requests/{id}                                (the output, or the request's real error)
    PUT  /fal-ai/bytedance/requests/{id}/cancel
  All require `Authorization: Key <FAL_KEY>` and answer with an `x-fal-request-id` header.
  Failures end COMPLETED with `error`/`error_type` on the status and the real error on the result
  route (422 `{"detail": [...]}` for model errors). A submit's X-Fal-Request-Timeout
  (fal-client's start_timeout) expires a request still queued: request_timeout, result 504
  with X-Fal-Request-Timeout-Type: user.

Cancel semantics (fal documents no outcome for a cancelled request, so the simulator picks
fal's own `client_cancelled` request error):
  * queued: removed from the queue at once -> 202 {"status": "CANCELLATION_REQUESTED"};
  * in progress: 202 too, but only a signal: the request runs to completion unless the
    `honour_cancel` switch is on, in which case it stops at its next check;
  * a request that stopped because of a cancel reports status COMPLETED with
    error "Request was cancelled by the client", error_type "client_cancelled", and its
    result route answers 499 {"detail": ..., "error_type": "client_cancelled"} (not retried
    by fal-client); a webhook, if any, is sent with status ERROR;
  * already COMPLETED: 400 {"status": "ALREADY_COMPLETED"}; unknown id: 404 {"status": "NOT_FOUND"}.
  The result route before completion answers 400 {"detail": "Request is still in progress"}.

Uploads: fal-client's `upload()` posts to the module globals `fal_client.client.REST_URL`
(token: POST /storage/auth/token?storage_type=fal-cdn-v3) and `CDN_URL` (POST /files/upload),
both read at call time. Point them at the simulator before the first upload of a client
(a SyncClient builds its token manager, which copies REST_URL, on first use):
    import fal_client.client
    fal_client.client.REST_URL = fal_client.client.CDN_URL = sim.base_url
`fal_simulator.patch.point_fal_client(base_url)` does that (and QUEUE_URL_FORMAT). The
fallback path (POST /storage/upload/initiate?storage_type=gcs, then PUT) works too;
multipart (over 100 MiB) is not simulated. Files are served at GET /files/<id>/<name>
with Content-Length and Range support.

Also: GET /.well-known/jwks.json (the webhook key), and the control endpoints
GET|POST /_simulator/config, GET /_simulator/stats, POST /_simulator/reset,
GET /_simulator/requests/{id}, GET /_simulator/health (no auth: loopback tooling).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import re
import socket
import ssl
import struct
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import tls
from .faults import ROUTE_KINDS, FaultDice, Switches
from .inputs import validate
from .jobs import COMPLETED, IN_PROGRESS, IN_QUEUE, Job, JobQueue, trimmed
from .render import Renderer
from .runner import SeedanceRunner
from .signing import WebhookSigner
from .stats import Stats
from .storage import FileStore
from .webhooks import WebhookSender

logger = logging.getLogger(__name__)

ENDPOINT_ID = "fal-ai/bytedance/seedance/v1/pro/fast/image-to-video"
APP_PATH = "/fal-ai/bytedance"  # status/result/cancel use owner/alias only
DEFAULT_KEY = "fal-simulator-key:local-only-secret"
DEFAULT_USER_ID = "fal-simulator-user"
CLIENT_ENV_FILE = "client.env"
MAX_BODY = 110 * 1024 * 1024  # above 100 MiB fal-client switches to multipart, which is not simulated
CHUNK = 256 * 1024

_REQUEST_ROUTE = re.compile(
    r"/fal-ai/bytedance(?:/[^?]*?)?/requests/(?P<id>[^/]+)(?P<suffix>/status|/status/stream|/cancel)?"
)
_FILE_ROUTE = re.compile(r"/files/(?P<rel>[0-9a-f]{32}/[^/]+)")
_PUT_ROUTE = re.compile(r"/files/_put/(?P<rel>[0-9a-f]{32}/[^/]+)")
_INGRESS_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class FalSimulator:
    """The simulator: HTTPS server, queue, runner, webhook sender. See the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | str | None = None,
        *,
        public_host: str | None = None,
        fal_key: str | None = None,
        accept_any_key: bool = False,
        webhook_user_id: str = DEFAULT_USER_ID,
        write_client_env: bool = True,
        switches: Switches | None = None,
        **switch_values: Any,
    ):
        self.host = host
        self._requested_port = port
        self.state_dir = Path(state_dir or Path(tempfile.gettempdir()) / "fal-simulator").resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if public_host is None:
            public_host = "localhost" if host in ("", "0.0.0.0", "::", "127.0.0.1", "::1", "localhost") else host  # noqa: S104
        self.public_host = public_host
        self.fal_key = fal_key or DEFAULT_KEY
        self.accept_any_key = accept_any_key
        self.webhook_user_id = webhook_user_id
        self.write_client_env = write_client_env
        self._initial_switches = (switches or Switches()).updated(switch_values)
        self.switches = self._initial_switches
        self.dice = FaultDice(self.switches.random_seed)
        self.counters = Stats()
        self.stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int = 0

        self.ca = tls.load_or_create_ca(self.state_dir)
        self.ca_file = self.state_dir / tls.CA_FILE
        self.ca_bundle_file = tls.write_bundle(self.state_dir)
        self.signer = WebhookSigner(self.state_dir)
        self.files = FileStore(self.state_dir)
        self.renderer = Renderer(self.state_dir / "renders")
        self._client_ssl = tls.client_context(self.state_dir)

    # lifecycle ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        return f"https://{host}:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"

    def start(self) -> FalSimulator:
        if self._httpd is not None:
            raise RuntimeError("already started")
        identities = ["localhost", "127.0.0.1", "::1", self.public_host]
        if self.host not in ("", "0.0.0.0", "::"):  # noqa: S104
            identities.append(self.host)
        context = tls.server_context(self.ca, identities)
        self.stopping.clear()
        self.queue = JobQueue(self._runner(), self._completed, lambda: self.switches)
        self.webhooks = WebhookSender(
            signer=self.signer,
            user_id=self.webhook_user_id,
            ssl_context=self._client_ssl,
            switches=lambda: self.switches,
            stats=self.counters,
            stopping=self.stopping,
        )
        self._httpd = _Server((self.host, self._requested_port), _Handler, self, context)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fal-sim-http", daemon=True
        )
        self._thread.start()
        if self.write_client_env:
            self._write_client_env()
        logger.info("fal simulator listening on %s (state in %s)", self.base_url, self.state_dir)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.close_all()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self.queue.stop()
        self.webhooks.stop()
        if self.write_client_env:
            self._remove_client_env()
        self._httpd = None
        logger.info("fal simulator stopped")

    def __enter__(self) -> FalSimulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def client_env(self) -> dict[str, str]:
        """The environment a fal-client program needs to use this simulator unchanged."""
        return {
            "FAL_QUEUE_RUN_HOST": f"{self.public_host}:{self.port}",
            "SSL_CERT_FILE": str(self.ca_bundle_file),  # the simulator's CA plus the public roots
            "FAL_KEY": self.fal_key,
            "FAL_SIMULATOR_JWKS_URL": self.jwks_url,
            "FAL_SIMULATOR_URL": self.base_url,  # for fal_client.client.REST_URL / CDN_URL (uploads)
            "FAL_SIMULATOR_CA_FILE": str(self.ca_file),
        }

    def _client_env_text(self) -> str:
        lines = [f"# written by the fal simulator (pid {os.getpid()}); removed when it stops"]
        lines += [f"{k}={v}" for k, v in self.client_env().items()]
        return "\n".join(lines) + "\n"

    def _write_client_env(self) -> None:
        tls.write_private(self.state_dir / CLIENT_ENV_FILE, self._client_env_text().encode())

    def _remove_client_env(self) -> None:
        path = self.state_dir / CLIENT_ENV_FILE
        with contextlib.suppress(OSError):
            if path.read_text() == self._client_env_text():  # another simulator may have taken over the dir
                path.unlink()

    # switches, stats -----------------------------------------------------------

    def configure(self, **changes: Any) -> Switches:
        self.switches = self.switches.updated(changes)
        if "random_seed" in changes:
            self.dice.reseed(self.switches.random_seed)
        if self._httpd is not None:
            self.queue.kick()
        logger.info("switches changed: %s", ", ".join(sorted(changes)) or "none")
        return self.switches

    def reset(self) -> None:
        """Back to the construction-time switches, a reseeded RNG and zeroed counters."""
        self.switches = self._initial_switches
        self.dice.reseed(self.switches.random_seed)
        self.counters.reset()
        if self._httpd is not None:
            self.queue.kick()

    def stats(self) -> dict[str, Any]:
        data = self.counters.snapshot()
        data["queue"] = self.queue.counts() if self._httpd is not None else {}
        return data

    def job(self, request_id: str) -> Job | None:
        return self.queue.get(request_id)

    def wait(self, request_id: str, timeout: float = 30.0) -> Job:
        """Blocks until the request is COMPLETED (for tests)."""
        job = self.queue.get(request_id)
        if job is None:
            raise KeyError(request_id)
        if not job.done.wait(timeout):
            raise TimeoutError(f"{request_id} still {job.state} after {timeout} s")
        return job

    def request_info(self, job: Job) -> dict[str, Any]:
        outcome = job.outcome
        return {
            "request_id": job.id,
            "state": job.state,
            "arguments": job.arguments,
            "webhook_url": job.webhook_url,
            "gateway_request_id": job.gateway_request_id,
            "cancel_requested": job.cancel_requested,
            "seed": job.seed,
            "inference_time": job.inference_time,
            "logs": list(job.logs),
            "outcome": None
            if outcome is None
            else {
                "status_code": outcome.status_code,
                "body": outcome.body,
                "error": outcome.error,
                "error_type": outcome.error_type,
            },
        }

    # wiring --------------------------------------------------------------------

    def request_urls(self, request_id: str) -> dict[str, str]:
        base = f"{self.base_url}{APP_PATH}/requests/{request_id}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    def file_url(self, rel: str) -> str:
        return f"{self.base_url}/files/{rel}"

    def _runner(self) -> SeedanceRunner:
        return SeedanceRunner(
            renderer=self.renderer,
            files=self.files,
            dice=self.dice,
            switches=lambda: self.switches,
            ssl_context=self._client_ssl,
            file_url=self.file_url,
            stats=self.counters,
            stopping=self.stopping,
        )

    def _completed(self, job: Job) -> None:
        outcome = job.outcome
        self.counters.count("completed_ok" if outcome and outcome.ok else "completed_error", job.id)
        logger.info("request %s completed: %s", job.id, outcome.status_code if outcome else "?")
        if job.webhook_url and not self.stopping.is_set():
            self.webhooks.send(job)


class _BodyTooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, sim: FalSimulator, context: ssl.SSLContext):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler, bind_and_activate=True)
        self.sim = sim
        # The handshake runs in the connection's own thread (see _Handler.setup), not in accept().
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Closes idle keep-alive connections, whose threads would otherwise wait for the client."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address):
        logger.debug("connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: fal-client polls status ten times a second
    server_version = "fal-simulator"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this
    server: _Server

    def setup(self):
        # Headers and body go out as separate writes; without NODELAY, Nagle + delayed ACK add ~40 ms per answer.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.settimeout(10)
        self.request.do_handshake()
        super().setup()

    def log_message(self, format, *args):
        # The request line only; headers (Authorization!) are never logged.
        logger.debug("%s %s", self.address_string(), format % args)

    @property
    def sim(self) -> FalSimulator:
        return self.server.sim

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # plumbing ------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.method = method
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path
        self._body: bytes | None = None  # the handler object lives as long as the keep-alive connection
        self._hang_after = False
        try:
            self._route(method, path)
            if self._body is None and (
                self.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in self.headers
            ):
                self.close_connection = True  # an unread body would be taken for the next request
        except _BodyTooLarge:
            self.close_connection = True
            self._json(413, {"detail": f"Request body larger than {MAX_BODY} bytes"})
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("error handling %s %s", method, path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._json(500, {"detail": "Simulator error", "error_type": "internal_error"})

    def _route(self, method: str, path: str) -> None:
        if path == f"/{ENDPOINT_ID}":
            return self._only(method, "POST") or self._api("submit", None, self._submit)
        if match := _REQUEST_ROUTE.fullmatch(path):
            rid, suffix = match["id"], match["suffix"]
            if suffix == "/status":
                return self._only(method, "GET") or self._api("status", rid, lambda: self._status(rid))
            if suffix == "/status/stream":
                return self._only(method, "GET") or self._api(None, rid, lambda: self._status_stream(rid))
            if suffix == "/cancel":
                return self._only(method, "PUT") or self._api("cancel", rid, lambda: self._cancel(rid))
            return self._only(method, "GET") or self._api("result", rid, lambda: self._result(rid))
        if path == "/storage/auth/token":
            return self._only(method, "POST") or self._api(None, None, self._upload_token)
        if path == "/storage/upload/initiate":
            return self._only(method, "POST") or self._api("upload", None, self._upload_initiate)
        if path == "/files/upload":
            return self._only(method, "POST") or self._api("upload", None, self._upload, auth="token")
        if path == "/files/upload/multipart":
            return self._json(501, {"detail": "Multipart uploads are not simulated (files over 100 MiB)"})
        if match := _PUT_ROUTE.fullmatch(path):
            return self._only(method, "PUT") or self._api(
                "upload", None, lambda: self._upload_put(match["rel"]), auth=None
            )
        if match := _FILE_ROUTE.fullmatch(path):
            return self._only(method, "GET", "HEAD") or self._serve_file(match["rel"])
        if path == "/.well-known/jwks.json":
            return self._only(method, "GET", "HEAD") or self._json(
                200, self.sim.signer.jwks(), {"Cache-Control": "max-age=3600"}
            )
        if path.startswith("/_simulator/"):
            return self._control(method, path.removeprefix("/_simulator/"))
        if path.startswith("/fal-ai/") and method == "POST":
            return self._json(404, {"detail": f"Application '{path.strip('/')}' not found"})
        return self._json(404, {"detail": "Not Found"})

    def _only(self, method: str, *allowed: str) -> bool:
        if method in allowed:
            return False
        self._read_body()
        self._json(405, {"detail": "Method Not Allowed"}, {"Allow": ", ".join(allowed)})
        return True

    def _read_body(self) -> bytes:
        if self._body is not None:
            return self._body
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise _BodyTooLarge
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self._body = b"".join(parts)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise _BodyTooLarge
            self._body = self.rfile.read(length) if length else b""
        return self._body

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        request_id: str | None = None,
        fal_id: bool = True,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if fal_id:
            self.send_header("x-fal-request-id", request_id or str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.method != "HEAD":
            self.wfile.write(body)

    def _json(
        self, status: int, body: Any, headers: dict[str, str] | None = None, request_id: str | None = None
    ) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers, request_id)

    def _auth(self, kind: str) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if kind == "token":
            ok = scheme.lower() == "bearer" and self.sim.files.token_valid(token)
            detail = "Invalid or expired upload token"
        elif scheme.lower() != "key" or not token:
            ok, detail = False, "Missing authorization header: expected 'Key <FAL_KEY>'"
        else:
            ok = self.sim.accept_any_key or hmac.compare_digest(token.encode(), self.sim.fal_key.encode())
            detail = "No user found for Key ID and Secret"
        if not ok:
            self.sim.counters.count("auth_failures")
            self._read_body()
            self._json(401, {"detail": detail})
        return ok

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.sim.stopping.wait(seconds)

    def _api(self, kind: str | None, request_id: str | None, handler, auth: str | None = "key") -> None:
        """Counts the call, checks auth, applies http_latency and any injected fault, then answers."""
        sim, switches = self.sim, self.sim.switches
        if kind:
            sim.counters.count(_COUNTER[kind], request_id)
        if auth and not self._auth(auth):
            return
        self._pause(switches.http_latency)
        fault = sim.dice.roll(switches, kind) if kind in ROUTE_KINDS else None
        if fault:
            sim.counters.count(f"faults_{fault}", request_id)
            sim.counters.count(f"faults_{kind}_{fault}")
        if fault == "429":
            self._read_body()
            return self._json(
                429,
                {"detail": "Too many requests, please retry later (simulated)", "error_type": "rate_limited"},
                {"Retry-After": "1"},
                request_id,
            )
        if fault == "500":
            self._read_body()
            return self._json(
                500,
                {"detail": "Internal server error (simulated)", "error_type": "internal_error"},
                {"X-Fal-Error-Type": "internal_error"},
                request_id,
            )
        if fault == "502":  # looks like fal's ingress (nginx, no x-fal-request-id): fal-client retries it
            self._read_body()
            return self._send(502, _INGRESS_502, "text/html", fal_id=False)
        if fault == "hang" and kind != "submit":
            self._pause(switches.hang_seconds)
        if fault == "reset" and kind != "submit":
            return self._reset()
        self._hang_after = fault == "hang"
        answer = handler()
        if answer is None:  # the handler wrote its own response (SSE)
            return None
        if fault == "reset":  # the submit is queued; its answer never leaves
            return self._reset()
        status, body, headers, rid = answer
        if kind:
            sim.counters.response(kind, status)
        self._json(status, body, headers, rid or request_id)

    def _reset(self) -> None:
        """Drop the connection without an answer (a TCP reset), after the body was read."""
        self._read_body()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return None

    # queue routes --------------------------------------------------------------

    def _submit(self):
        sim = self.sim
        raw = self._read_body()
        try:
            arguments = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            arguments = raw.decode("utf-8", "replace")[:200]
        params, errors = validate(arguments)
        if errors and isinstance(arguments, str):
            errors = [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]
        start_timeout = None
        if header := self.headers.get("X-Fal-Request-Timeout"):
            try:
                start_timeout = float(header)
                if start_timeout <= 0:
                    raise ValueError
            except ValueError:
                return (
                    400,
                    {"detail": "Invalid X-Fal-Request-Timeout header", "error_type": "bad_request"},
                    {"X-Fal-Error-Type": "bad_request"},
                    None,
                )
        job = Job(
            arguments=trimmed(arguments),  # kept for /_simulator/requests; a data URI is not kept whole
            params=params,
            input_errors=errors,
            webhook_url=self.query.get("fal_webhook") or None,
            start_timeout=start_timeout,
        )
        if job.webhook_url:
            job.gateway_request_id = str(uuid.uuid4()) if sim.switches.gateway_request_id_differs else job.id
        sim.queue.submit(job)
        sim.counters.count("requests_created", job.id)
        body = {
            "status": IN_QUEUE,
            "request_id": job.id,
            **sim.request_urls(job.id),
            "queue_position": sim.queue.position(job),
        }
        if job.gateway_request_id:
            body["gateway_request_id"] = job.gateway_request_id
        if self._hang_after:  # the request is queued, but its answer is late: the client may time out and retry
            self._pause(sim.switches.hang_seconds)
        return 200, body, None, job.id

    def _find(self, request_id: str) -> Job | None:
        return self.sim.queue.get(request_id)

    def _status_body(self, job: Job, with_logs: bool) -> dict:
        body: dict[str, Any] = {"status": job.state, "request_id": job.id, **self.sim.request_urls(job.id)}
        if job.state == IN_QUEUE:
            body["queue_position"] = self.sim.queue.position(job)
            return body
        body["logs"] = list(job.logs) if with_logs else None
        if job.state == COMPLETED:
            outcome = job.outcome
            inference = job.inference_time
            body["metrics"] = {"inference_time": inference} if inference is not None else {}
            if outcome is not None and not outcome.ok:
                body["error"] = outcome.error
                body["error_type"] = outcome.error_type
        return body

    def _status(self, request_id: str):
        job = self._find(request_id)
        if job is None:
            return 404, {"detail": "Request not found"}, None, None
        with_logs = self.query.get("logs", "").lower() in ("1", "true")
        body = self._status_body(job, with_logs)
        return (200 if job.state == COMPLETED else 202), body, None, None

    def _status_stream(self, request_id: str):
        job = self._find(request_id)
        if job is None:
            return 404, {"detail": "Request not found"}, None, None
        with_logs = self.query.get("logs", "").lower() in ("1", "true")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-fal-request-id", job.id)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        last, last_sent = None, time.monotonic()
        while not self.sim.stopping.is_set():
            body = self._status_body(job, with_logs)
            text = json.dumps(body)
            if text != last:
                self.wfile.write(f"data: {text}\n\n".encode())
                self.wfile.flush()
                last, last_sent = text, time.monotonic()
            elif time.monotonic() - last_sent > 15:
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
                last_sent = time.monotonic()
            if job.state == COMPLETED:
                break
            job.done.wait(0.2)
        return None

    def _result(self, request_id: str):
        job = self._find(request_id)
        if job is None:
            return 404, {"detail": "Request not found"}, None, None
        if job.state != COMPLETED or job.outcome is None:
            return 400, {"detail": "Request is still in progress"}, None, None
        outcome = job.outcome
        return outcome.status_code, outcome.body, outcome.headers, None

    def _cancel(self, request_id: str):
        job = self._find(request_id)
        if job is None:
            return 404, {"status": "NOT_FOUND"}, None, None
        state = self.sim.queue.cancel(job)
        if state == COMPLETED:
            return 400, {"status": "ALREADY_COMPLETED"}, None, None
        if state == IN_PROGRESS:
            job.log("Cancellation requested", "WARN")
        return 202, {"status": "CANCELLATION_REQUESTED"}, None, None

    # uploads and files ---------------------------------------------------------

    def _upload_token(self):
        token, expires = self.sim.files.issue_token()
        self.sim.counters.count("upload_tokens")
        return (
            200,
            {
                "token": token,
                "token_type": "Bearer",
                "base_url": self.sim.base_url,
                "expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
            },
            None,
            None,
        )

    def _upload(self):
        data = self._read_body()
        rel = self.sim.files.put_bytes(
            data,
            file_name=self.headers.get("X-Fal-File-Name"),
            content_type=self.headers.get("Content-Type") or "application/octet-stream",
        )
        return 200, {"access_url": self.sim.file_url(rel)}, None, None

    def _upload_initiate(self):
        try:
            body = json.loads(self._read_body() or b"{}")
        except ValueError:
            body = {}
        content_type = body.get("content_type") or "application/octet-stream"
        rel = self.sim.files.reserve(file_name=body.get("file_name"), content_type=content_type)
        signature = self.sim.files.sign_path(rel)
        return (
            200,
            {"upload_url": f"{self.sim.base_url}/files/_put/{rel}?sig={signature}", "file_url": self.sim.file_url(rel)},
            None,
            None,
        )

    def _upload_put(self, rel: str):
        data = self._read_body()
        if not hmac.compare_digest(self.query.get("sig", ""), self.sim.files.sign_path(rel)):
            return 403, {"detail": "Invalid upload signature"}, None, None
        if not self.sim.files.fill(rel, data):
            return 404, {"detail": "Unknown upload"}, None, None
        return 200, {}, None, None

    def _serve_file(self, rel: str) -> None:
        sim = self.sim
        stored = sim.files.get(rel)
        if stored is None:
            return self._json(404, {"detail": "File not found"})
        sim.counters.count("file_downloads")
        fault = sim.switches.video_fault if stored.kind == "video" else "none"
        if fault == "not_mp4":
            page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
            return self._send(200, page, "text/html; charset=utf-8", fal_id=False)
        size = stored.size
        served_size = size // 2 if fault in ("truncated", "short_read") else size
        start, end, status = 0, served_size - 1, 200
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "public, max-age=31536000"}
        range_header = self.headers.get("Range")
        if range_header and fault == "none":
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if match and (match[1] or match[2]):
                if match[1]:
                    start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
                else:
                    start, end = max(0, size - int(match[2])), size - 1
                if start > end or start >= size:
                    return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"}, fal_id=False)
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1 if served_size else 0
        self.send_response(status)
        self.send_header("Content-Type", stored.content_type)
        # short_read announces the full size but sends half, then drops the connection.
        self.send_header("Content-Length", str(size if fault == "short_read" else length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.method == "HEAD":
            return None
        rate = sim.switches.video_bytes_per_second
        piece = min(CHUNK, max(rate // 10, 1)) if rate else CHUNK
        with open(stored.path, "rb") as handle:
            handle.seek(start)
            left = length
            while left > 0:
                chunk = handle.read(min(piece, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
                if rate:  # a slow network, so a download can be caught halfway
                    time.sleep(len(chunk) / rate)
        if fault == "short_read":
            self.wfile.flush()
            self.close_connection = True
        return None

    # control -------------------------------------------------------------------

    def _control(self, method: str, name: str) -> None:
        sim = self.sim
        if name == "health":
            return self._json(200, {"ok": True})
        if name == "config" and method == "GET":
            return self._json(200, sim.switches.to_dict())
        if name == "config" and method == "POST":
            try:
                changes = json.loads(self._read_body() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                return self._json(200, sim.configure(**changes).to_dict())
            except ValueError as exc:  # SwitchError is a ValueError
                return self._json(400, {"detail": str(exc)})
        if name == "stats" and method == "GET":
            return self._json(200, sim.stats())
        if name == "reset" and method == "POST":
            self._read_body()
            sim.reset()
            return self._json(200, {"ok": True, "config": sim.switches.to_dict()})
        if name.startswith("requests/") and method == "GET":
            job = sim.queue.get(name.removeprefix("requests/"))
            if job is None:
                return self._json(404, {"detail": "Request not found"})
            return self._json(200, sim.request_info(job))
        self._read_body()
        return self._json(404, {"detail": "Not Found"})


_COUNTER = {
    "submit": "submits",
    "status": "status_calls",
    "result": "result_calls",
    "cancel": "cancels",
    "upload": "uploads",
}
