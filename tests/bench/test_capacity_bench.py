"""The capacity benchmark, at a tiny size, so the script keeps working (its figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

pytestmark = pytest.mark.worker

BASE_DIR = Path(settings.BASE_DIR)


def bench_database_url(tmp_path) -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{tmp_path / 'capacity.sqlite3'}"
    auth = f"{db['USER']}@" if db.get("USER") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/seedance_capacity_tiny"


def bench_broker_url() -> str:
    broker = urlsplit(settings.CELERY_BROKER_URL)
    if broker.scheme.startswith("redis"):
        return urlunsplit(broker._replace(path="/8"))  # a database of its own: the benchmark flushes it
    return "filesystem://"


def test_the_capacity_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path):
    command = [
        sys.executable,
        "bench/capacity.py",
        "--n", "3",
        "--latency", "1",
        "--naive-n", "1",
        "--database-url", bench_database_url(tmp_path),
        "--broker-url", bench_broker_url(),
        "--results-dir", str(tmp_path / "results"),
        "--var-dir", str(tmp_path / "var"),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=BASE_DIR, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "| ours (submit + webhook + archive) | 3 |" in run.stdout
    assert "| naive (`fal_client.subscribe` in a task) | 1 measured |" in run.stdout
    assert "CPU per generation" in run.stdout
    assert "3 completed, 0 failed" in run.stdout
    [raw] = (tmp_path / "results").glob("capacity-*.txt")
    assert "makespan" in raw.read_text()
