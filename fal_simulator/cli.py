"""Command line: run the simulator in the foreground until Ctrl-C or SIGTERM.

    python -m fal_simulator.cli --port 8443 --state-dir var/fal-simulator [--concurrency 2] [--latency 3] ...
    python manage.py fal_simulator ...     (the same flags; a thin Django adapter)

Once listening it prints, one per line on stdout, the environment a fal-client
program needs (KEY=VALUE; also written to <state-dir>/client.env), e.g.
    FAL_QUEUE_RUN_HOST=localhost:8443
    SSL_CERT_FILE=/abs/state/ca-bundle.pem
    FAL_KEY=...
    FAL_SIMULATOR_JWKS_URL=https://localhost:8443/.well-known/jwks.json
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any

from .faults import VIDEO_FAULTS

DEFAULT_PORT = 8443


def add_arguments(parser: argparse.ArgumentParser, *, default_state_dir: str | None = None) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"0 picks a free port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--state-dir",
        default=default_state_dir,
        help=f"CA, webhook key, files and render cache live here (default: {default_state_dir or './.fal-simulator'})",
    )
    parser.add_argument("--public-host", help="host name put in URLs and FAL_QUEUE_RUN_HOST (default localhost)")
    parser.add_argument(
        "--fal-key",
        default=os.environ.get("FAL_SIMULATOR_KEY"),
        help="the key clients must send (default: $FAL_SIMULATOR_KEY or a fixed local key)",
    )
    parser.add_argument("--accept-any-key", action="store_true", help="accept any 'Key ...' authorization")
    parser.add_argument("--webhook-user-id", default=None, help="X-Fal-Webhook-User-Id of signed webhooks")
    parser.add_argument("--log-level", default="INFO", help="DEBUG shows every HTTP request line")
    switches = parser.add_argument_group("switches (also settable at run time: POST /_simulator/config)")
    switches.add_argument("--concurrency", type=int, help="requests IN_PROGRESS at once (default 4)")
    switches.add_argument(
        "--latency", type=float, dest="progress_latency", help="minimum seconds a request stays IN_PROGRESS"
    )
    switches.add_argument("--queue-latency", type=float, help="seconds every request waits IN_QUEUE")
    switches.add_argument("--http-latency", type=float, help="seconds added before every API answer")
    for code, what in (
        ("429", "429, retried by fal-client"),
        ("500", "500, not retried"),
        ("502", "an nginx 502 without x-fal-request-id, retried"),
        ("hang", "an answer held back --hang-seconds"),
    ):
        switches.add_argument(
            f"--rate-{code}",
            metavar="SPEC",
            help=f"fraction of calls answered with {what}: 0.2 (all kinds) or "
            "status=0.3,submit=0.1 (kinds: submit status result cancel upload)",
        )
    switches.add_argument("--hang-seconds", type=float, help="how long a hanging call waits (default 30)")
    switches.add_argument("--force-422", action="store_const", const=True, help="every request fails with a 422")
    switches.add_argument(
        "--honour-cancel",
        action="store_const",
        const=True,
        help="a cancel stops a running request (default: it runs to completion)",
    )
    switches.add_argument("--webhook-delay", type=float, help="seconds before a webhook is sent")
    switches.add_argument("--webhook-duplicate", action="store_const", const=True, help="send every webhook twice")
    switches.add_argument("--webhook-drop", action="store_const", const=True, help="never send webhooks")
    switches.add_argument("--webhook-attempts", type=int, help="attempts per webhook delivery (default 4)")
    switches.add_argument("--webhook-retry-delay", type=float, help="first retry backoff, doubling (default 0.5)")
    switches.add_argument("--webhook-timeout", type=float, help="seconds per webhook attempt (default 5)")
    switches.add_argument("--video-fault", choices=VIDEO_FAULTS, help="serve rendered videos broken this way")
    switches.add_argument(
        "--video-bytes-per-second", type=int, help="serve files at most this fast (default: unthrottled)"
    )
    switches.add_argument("--seed", type=int, dest="random_seed", help="seed for the fault dice and random seeds")


SWITCH_OPTIONS = (
    "concurrency",
    "progress_latency",
    "queue_latency",
    "http_latency",
    "rate_429",
    "rate_500",
    "rate_502",
    "rate_hang",
    "hang_seconds",
    "force_422",
    "honour_cancel",
    "webhook_delay",
    "webhook_duplicate",
    "webhook_drop",
    "webhook_attempts",
    "webhook_retry_delay",
    "webhook_timeout",
    "video_fault",
    "video_bytes_per_second",
    "random_seed",
)


def simulator_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """FalSimulator(...) keyword arguments from parsed options (argparse or Django's)."""
    kwargs: dict[str, Any] = {
        "host": options["host"],
        "port": options["port"],
        "state_dir": Path(options["state_dir"] or ".fal-simulator"),
        "public_host": options.get("public_host"),
        "fal_key": options.get("fal_key"),
        "accept_any_key": bool(options.get("accept_any_key")),
    }
    if options.get("webhook_user_id"):
        kwargs["webhook_user_id"] = options["webhook_user_id"]
    kwargs.update({name: options[name] for name in SWITCH_OPTIONS if options.get(name) is not None})
    return kwargs


def serve(options: dict[str, Any], stdout: IO[str], stop: threading.Event | None = None) -> int:
    """Starts the simulator, prints the client environment, blocks until stopped; returns an exit code."""
    from .server import FalSimulator

    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    simulator = FalSimulator(**simulator_kwargs(options))
    try:
        simulator.start()
        for name, value in simulator.client_env().items():
            stdout.write(f"{name}={value}\n")
        stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def main(argv: list[str] | None = None, stdout: IO[str] | None = None, stop: threading.Event | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fal_simulator", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    logging.basicConfig(
        level=options["log_level"].upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    return serve(options, stdout or sys.stdout, stop)


if __name__ == "__main__":
    sys.exit(main())
