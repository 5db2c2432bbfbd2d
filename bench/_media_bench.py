"""Shared by bench/archive_throughput.py and bench/poster_timing.py: environment, machine, report.

Not a benchmark itself. The scripts run as `.venv/bin/python bench/<script>.py`, so this
module is imported from the bench/ folder; it puts the project root on sys.path for them.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = "var/bench"
DEFAULT_RESULTS_DIR = ROOT / "bench" / "results"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def hermetic_env(var_dir: str) -> dict[str, str]:
    """The variables the tests set (Makefile's `test` target), with var/ under `var_dir`.

    No .env file, no real fal, no S3 or database from the caller's shell: each script
    starts the services it needs and passes them on explicitly."""
    return {
        "DJANGO_SETTINGS_MODULE": "seedance_studio.settings",
        "SEEDANCE_ENV_FILE": "",
        "SEEDANCE_VAR_DIR": var_dir,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-insecure-key",
        "FAL_KEY": "",
        "PUBLIC_BASE_URL": "",
        "DB_CONN_MAX_AGE": "0",
        "SECURE_SSL_REDIRECT": "false",
    }


def child_base_env(var_dir: str) -> dict[str, str]:
    """os.environ without anything that would point the app at other services, plus hermetic_env()."""
    dropped = ("AWS_", "DATABASE_URL", "CELERY_", "CACHE_URL", "FAL_", "SSL_CERT_FILE")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env.update(hermetic_env(var_dir))
    return env


def setup_django(var_dir: str) -> None:
    """Django set up in this process like the tests do it (DJANGO_SETTINGS_MODULE by setdefault)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seedance_studio.settings")
    for key, value in hermetic_env(var_dir).items():
        if key != "DJANGO_SETTINGS_MODULE":
            os.environ[key] = value
    os.chdir(ROOT)  # SEEDANCE_VAR_DIR is relative to the project
    import django

    django.setup()


# --- The machine --------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def busy_note() -> str | None:
    """A warning when other work keeps the CPUs busy (1-minute load above 3/4 of the CPUs).

    Call it before the benchmark starts its own work, which adds to the load."""
    try:
        one, _five, _fifteen = os.getloadavg()
    except OSError:
        return None
    cores = os.cpu_count() or 1
    if one <= 0.75 * cores:
        return None
    return (
        f"NOTE: other work was running when this run started (1-minute load {one:.1f} on {cores} CPUs): "
        "absolute times are inflated and noisier; ratios measured side by side in this run are less affected"
    )


def machine_lines() -> list[str]:
    ram = _ram_gib()
    cores = os.cpu_count() or 0
    return [
        f"date:    {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {_cpu_model()}, {cores} CPU{'s' if cores != 1 else ''}, "
        f"{f'{ram:.1f} GiB RAM' if ram else 'RAM unknown'}, {platform.system()} {platform.release()}",
        f"python:  {platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        f"load:    {load_average()} at start; the CPUs may be shared with other work, "
        "which can slow any figure (ratios are measured in the same run to cancel most of it)",
    ]


def package_versions(*names: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


# --- Numbers --------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p50 of 20 values is the 10th smallest, p95 the 19th)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# --- The report -------------------------------------------------------------------------------------


class Report:
    """Prints lines as they come and writes them all to <output_dir>/<script>-<YYYYMMDD-HHMM>.txt at the end.

    The file is written even when the run fails (with the traceback), so a partial run
    still leaves its raw output."""

    def __init__(self, script: str, output_dir: Path) -> None:
        self.started = dt.datetime.now()
        self.path = Path(output_dir) / f"{script}-{self.started:%Y%m%d-%H%M}.txt"
        self.lines: list[str] = []

    def line(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def __enter__(self) -> Report:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            self.lines.append("")
            self.lines.append("FAILED:")
            self.lines.extend(traceback.format_exception(exc_type, exc, tb))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("\n".join(self.lines) + "\n")
        print(f"raw output written to {self.path}", flush=True)
