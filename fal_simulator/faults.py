"""The simulator's switches (latency, concurrency, injected faults) and the seeded dice that apply them.

All switches live in one frozen dataclass, `Switches`. They can be given at construction
(`FalSimulator(concurrency=1, rate_429={"status": 0.5})`), as command-line flags, or at
run time with `POST /_simulator/config` and a JSON object of the fields to change.
A rate is a fraction of calls per route kind; in JSON either a number (every kind)
or an object such as `{"status": 0.3, "submit": 0.1}`.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass, field
from typing import Any

# The route kinds whose calls can be answered with an injected fault.
ROUTE_KINDS = ("submit", "status", "result", "cancel", "upload")
# What an injected fault does: 429 and an "ingress" 502 are retried by fal-client, 500 is not,
# "hang" holds the answer back for `hang_seconds` (longer than a client's timeout), "reset"
# drops the connection without an answer (on a submit: after the request was queued, so a
# client that re-sends queues, and pays for, a second job).
FAULT_RATES = ("rate_429", "rate_500", "rate_502", "rate_hang", "rate_reset")
VIDEO_FAULTS = ("none", "truncated", "short_read", "not_mp4")
MAX_CONCURRENCY = 1024  # runner threads (mostly asleep: a request holds one for its latency)


class SwitchError(ValueError):
    """A switch name or value that the simulator does not accept."""


@dataclass(frozen=True)
class Switches:
    concurrency: int = 4  # requests IN_PROGRESS at once; the rest wait IN_QUEUE
    queue_latency: float = 0.0  # seconds every request waits IN_QUEUE before it may start
    progress_latency: float = 0.0  # minimum seconds IN_PROGRESS (rendering counts towards it)
    http_latency: float = 0.0  # seconds added before every API answer
    rate_429: dict[str, float] = field(default_factory=dict)
    rate_500: dict[str, float] = field(default_factory=dict)
    rate_502: dict[str, float] = field(default_factory=dict)  # nginx-style, no x-fal-request-id
    rate_hang: dict[str, float] = field(default_factory=dict)
    rate_reset: dict[str, float] = field(default_factory=dict)
    hang_seconds: float = 30.0
    force_422: bool = False  # every request fails with a model 422 on its result
    honour_cancel: bool = False  # a cancel stops a running request (otherwise it runs to completion)
    webhook_delay: float = 0.0
    webhook_duplicate: bool = False  # deliver each webhook twice
    webhook_drop: bool = False  # never deliver webhooks
    webhook_attempts: int = 4  # per delivery, including the first (fal: 10 over 2 h)
    webhook_retry_delay: float = 0.5  # first backoff; doubles per attempt
    webhook_timeout: float = 5.0
    # fal: "payload is null when the output is not valid JSON; payload_error then explains why".
    webhook_payload_error: bool = False  # OK webhooks carry payload null and payload_error
    # fal: request_id and gateway_request_id are mostly equal, but differ after fal retried a request.
    gateway_request_id_differs: bool = False
    webhook_signed_id: str = "request_id"  # which of the two ids the signature covers
    webhook_user_id: str = ""  # sign webhooks as this fal account (empty: the simulator's own)
    video_fault: str = "none"  # how rendered videos are served: none, truncated, short_read, not_mp4
    video_bytes_per_second: int = 0  # serve files at most this fast (0: as fast as possible)
    random_seed: int | None = None  # seeds the dice, so fractions are reproducible

    def updated(self, changes: dict[str, Any]) -> Switches:
        """A copy with `changes` applied; raises SwitchError for unknown names or bad values."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise SwitchError(f"unknown switch(es): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {name: _coerce(name, value) for name, value in changes.items()}
        new = dataclasses.replace(self, **values)
        new.check()
        return new

    def check(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise SwitchError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
        if self.video_bytes_per_second < 0:
            raise SwitchError("video_bytes_per_second must be 0 (unthrottled) or more")
        if self.webhook_attempts < 1:
            raise SwitchError("webhook_attempts must be at least 1")
        if self.webhook_signed_id not in ("request_id", "gateway_request_id"):
            raise SwitchError("webhook_signed_id must be request_id or gateway_request_id")
        if self.video_fault not in VIDEO_FAULTS:
            raise SwitchError(f"video_fault must be one of {', '.join(VIDEO_FAULTS)}")
        for name in (
            "queue_latency",
            "progress_latency",
            "http_latency",
            "hang_seconds",
            "webhook_delay",
            "webhook_retry_delay",
            "webhook_timeout",
        ):
            if getattr(self, name) < 0:
                raise SwitchError(f"{name} must not be negative")
        for kind in ROUTE_KINDS:
            total = sum(getattr(self, rate).get(kind, 0.0) for rate in FAULT_RATES)
            if total > 1.0 + 1e-9:
                raise SwitchError(f"fault rates for {kind!r} add up to {total:g}, more than 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any) -> Any:
    field_type = {f.name: f.type for f in dataclasses.fields(Switches)}[name]
    try:
        if name in FAULT_RATES:
            return parse_rates(value)
        if field_type == "bool":
            return parse_bool(value)
        if field_type == "int":
            if isinstance(value, bool):
                raise TypeError
            return int(value)
        if field_type == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if field_type == "int | None":
            return None if value is None or value == "" else int(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SwitchError(f"bad value for {name}: {value!r} ({exc or 'wrong type'})") from None


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected a boolean")


def parse_rates(value: Any) -> dict[str, float]:
    """Rates per route kind from a number (every kind), a dict, or a "status=0.3,submit=0.1" string."""
    if isinstance(value, str):
        text = value.strip()
        if "=" not in text:
            value = float(text) if text else 0.0
        else:
            value = {}
            for part in text.split(","):
                kind, _, rate = part.partition("=")
                value[kind.strip()] = float(rate)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = dict.fromkeys(ROUTE_KINDS, float(value))
    if not isinstance(value, dict):
        raise ValueError("expected a number or an object of route kind to fraction")
    rates = {}
    for kind, rate in value.items():
        if kind not in ROUTE_KINDS:
            raise ValueError(f"unknown route kind {kind!r} (known: {', '.join(ROUTE_KINDS)})")
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate for {kind} must be between 0 and 1")
        if rate:
            rates[kind] = rate
    return rates


class FaultDice:
    """Decides, call by call, whether a route answers with an injected fault.

    One seeded RNG behind a lock: with `random_seed` set, the same sequence of calls
    gets the same faults.
    """

    def __init__(self, seed: int | None):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not cryptography

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._rng = random.Random(seed)  # noqa: S311

    def roll(self, switches: Switches, kind: str) -> str | None:
        """ "429", "500", "502", "hang", "reset" or None (answer normally)."""
        rates = [(rate.removeprefix("rate_"), getattr(switches, rate).get(kind, 0.0)) for rate in FAULT_RATES]
        if not any(r for _, r in rates):
            return None  # no dice thrown, so enabling faults on one route does not shift another's sequence
        with self._lock:
            u = self._rng.random()
        for fault, rate in rates:
            if u < rate:
                return fault
            u -= rate
        return None

    def seed_for_request(self) -> int:
        with self._lock:
            return self._rng.randint(0, 2**32 - 1)  # Seedance seeds are unsigned 32-bit
