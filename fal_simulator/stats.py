"""Counters the tests (and `GET /_simulator/stats`) read: per kind of call, and per request id."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

MAX_TRACKED_REQUESTS = 10_000
MAX_WEBHOOK_RECORDS = 500


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counters: Counter[str] = Counter()
            self._responses: Counter[str] = Counter()
            self._requests: dict[str, Counter[str]] = {}
            self._webhooks: deque[dict] = deque(maxlen=MAX_WEBHOOK_RECORDS)

    def count(self, name: str, request_id: str | None = None, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n
            if request_id is not None:
                per = self._requests.get(request_id)
                if per is None:
                    if len(self._requests) >= MAX_TRACKED_REQUESTS:
                        self._requests.pop(next(iter(self._requests)))
                    per = self._requests[request_id] = Counter()
                per[name] += n

    def response(self, kind: str, status: int) -> None:
        with self._lock:
            self._responses[f"{kind}:{status}"] += 1

    def webhook(self, record: dict) -> None:
        with self._lock:
            self._webhooks.append(record)

    def get(self, name: str, request_id: str | None = None) -> int:
        with self._lock:
            if request_id is None:
                return self._counters[name]
            return self._requests.get(request_id, Counter())[name]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "counters": dict(self._counters),
                "responses": dict(self._responses),
                "requests": {rid: dict(c) for rid, c in self._requests.items()},
                "webhooks": list(self._webhooks),
            }
