"""Requests and the queue that runs them: IN_QUEUE -> IN_PROGRESS -> COMPLETED, never anything else.

fal has no FAILED or CANCELLED state: every request ends COMPLETED, and a failure shows
as `error`/`error_type` on the status plus the real HTTP error on the result route.
A dispatcher thread starts queued requests in order (FIFO) while fewer than
`concurrency` run and each has waited `queue_latency`; it also expires requests whose
`X-Fal-Request-Timeout` (time-to-start) passes while they are still queued.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .faults import MAX_CONCURRENCY, Switches
from .inputs import VideoParams

logger = logging.getLogger(__name__)

IN_QUEUE, IN_PROGRESS, COMPLETED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED"
MAX_KEPT_JOBS = 10_000  # forget the oldest completed requests beyond this
TRIM_AT = 1000


def trimmed(value: Any) -> Any:
    """value with long strings (data URIs) shortened, for keeping thousands of requests in memory."""
    if isinstance(value, str) and len(value) > TRIM_AT:
        return f"{value[:200]}...({len(value)} characters)"
    if isinstance(value, dict):
        return {k: trimmed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trimmed(v) for v in value]
    return value


@dataclass(frozen=True)
class Outcome:
    """How a request ended: what the result route answers, and the error shown on the status."""

    status_code: int
    body: Any
    error: str | None = None
    error_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status_code == 200

    @classmethod
    def success(cls, result: dict) -> Outcome:
        return cls(200, result)

    @classmethod
    def model_error(cls, items: list[dict]) -> Outcome:
        """A 422 from the model (bad input, unusable image, content policy)."""
        return cls(
            422,
            {"detail": items},
            error="Invalid status code: 422",
            error_type=items[0]["type"],
            headers={"X-Fal-Retryable": "false"},
        )

    @classmethod
    def request_error(cls, status_code: int, detail: str, error_type: str, **headers: str) -> Outcome:
        """An infrastructure error in fal's flat format (`detail` string + `error_type`)."""
        return cls(
            status_code,
            {"detail": detail, "error_type": error_type},
            error=detail,
            error_type=error_type,
            headers={"X-Fal-Error-Type": error_type, **headers},
        )

    @classmethod
    def cancelled(cls) -> Outcome:
        return cls.request_error(499, "Request was cancelled by the client", "client_cancelled")

    @classmethod
    def start_timeout(cls) -> Outcome:
        return cls.request_error(504, "Request timed out", "request_timeout", **{"X-Fal-Request-Timeout-Type": "user"})


@dataclass(eq=False)
class Job:
    arguments: Any
    params: VideoParams | None
    input_errors: list[dict]
    webhook_url: str | None = None
    start_timeout: float | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    gateway_request_id: str | None = None
    state: str = IN_QUEUE
    submitted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    completed_at: float | None = None
    logs: list[dict] = field(default_factory=list)
    outcome: Outcome | None = None
    cancel_requested: bool = False
    seed: int | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def log(self, message: str, level: str = "INFO") -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.logs.append({"message": message, "level": level, "source": "USER", "timestamp": stamp})

    @property
    def inference_time(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return round(self.completed_at - self.started_at, 3)


class JobQueue:
    def __init__(
        self,
        run: Callable[[Job], Outcome],
        on_complete: Callable[[Job], None],
        switches: Callable[[], Switches],
        max_workers: int = MAX_CONCURRENCY,
    ):
        self._run = run
        self._on_complete = on_complete
        self._switches = switches
        self._cond = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._pending: list[Job] = []
        self._running: set[Job] = set()
        self._stopped = False
        self._workers = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fal-sim-runner")
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="fal-sim-dispatcher", daemon=True)
        self._dispatcher.start()

    def submit(self, job: Job) -> None:
        with self._cond:
            self._jobs[job.id] = job
            self._pending.append(job)
            self._forget_old()
            self._cond.notify_all()

    def get(self, request_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(request_id)

    def position(self, job: Job) -> int:
        with self._cond:
            try:
                return self._pending.index(job)
            except ValueError:
                return 0

    def counts(self) -> dict[str, int]:
        with self._cond:
            return {"queued": len(self._pending), "running": len(self._running), "known": len(self._jobs)}

    def kick(self) -> None:
        """Re-evaluate after the switches changed (e.g. a higher concurrency)."""
        with self._cond:
            self._cond.notify_all()

    def cancel(self, job: Job) -> str:
        """Returns the state the request was in: a queued one is removed, a running one only flagged."""
        with self._cond:
            state = job.state
            if state == IN_QUEUE:
                self._pending.remove(job)
                job.log("Request cancelled while in queue")
                self._finish_locked(job, Outcome.cancelled())
            elif state == IN_PROGRESS:
                job.cancel_requested = True
        if state == IN_QUEUE:
            self._on_complete(job)
        return state

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._dispatcher.join(timeout=5)
        self._workers.shutdown(wait=False, cancel_futures=True)
        # Running requests notice the stop at their next check (a frame batch, a sleep tick); wait a little for them.
        with self._cond:
            running = list(self._running)
        deadline = time.monotonic() + 3
        for job in running:
            job.done.wait(max(0.0, deadline - time.monotonic()))

    # internals ---------------------------------------------------------------

    def _forget_old(self) -> None:
        if len(self._jobs) <= MAX_KEPT_JOBS:
            return
        for request_id, job in list(self._jobs.items()):
            if len(self._jobs) <= MAX_KEPT_JOBS:
                break
            if job.state == COMPLETED:
                del self._jobs[request_id]

    def _finish_locked(self, job: Job, outcome: Outcome) -> None:
        if job.params is not None and len(job.params.image_url) > TRIM_AT:
            job.params = dataclasses.replace(job.params, image_url=trimmed(job.params.image_url))  # memory
        job.outcome = outcome
        job.completed_at = time.monotonic()
        job.state = COMPLETED
        job.done.set()
        self._running.discard(job)
        self._cond.notify_all()

    def _dispatch_loop(self) -> None:
        while True:
            expired: list[Job] = []
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                switches = self._switches()
                wake_at = None
                for job in list(self._pending):
                    if job.start_timeout is not None:
                        deadline = job.submitted_at + job.start_timeout
                        if now >= deadline:
                            self._pending.remove(job)
                            job.log("Request timed out before it started", "ERROR")
                            self._finish_locked(job, Outcome.start_timeout())
                            expired.append(job)
                        else:
                            wake_at = deadline if wake_at is None else min(wake_at, deadline)
                while self._pending and len(self._running) < switches.concurrency:
                    head = self._pending[0]
                    eligible_at = head.submitted_at + switches.queue_latency
                    if now < eligible_at:
                        wake_at = eligible_at if wake_at is None else min(wake_at, eligible_at)
                        break
                    self._pending.pop(0)
                    head.state = IN_PROGRESS
                    head.started_at = now
                    self._running.add(head)
                    self._workers.submit(self._work, head)
                if not expired:
                    self._cond.wait(None if wake_at is None else max(0.001, wake_at - now))
            for job in expired:
                self._on_complete(job)

    def _work(self, job: Job) -> None:
        try:
            outcome = self._run(job)
        except Exception:
            logger.exception("simulated runner crashed on %s", job.id)
            job.log("Runner crashed", "ERROR")
            outcome = Outcome.request_error(500, "Runner encountered an internal server error", "runner_server_error")
        with self._cond:
            self._finish_locked(job, outcome)
        self._on_complete(job)
