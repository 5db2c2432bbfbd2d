"""The archive and poster benchmarks still run: each script once with tiny parameters.

Not a measurement (the figures of a 2 MB copy or a 1 s render mean nothing): it checks the
scripts start their services, run every kind of copy and timing, print their figures and
write their raw output. The real runs are `bench/archive_throughput.py` and
`bench/poster_timing.py` with their defaults (bench/README.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, *arguments: str, tmp_path: Path) -> tuple[str, Path]:
    output_dir = tmp_path / "results"
    command = [sys.executable, str(ROOT / "bench" / name), *arguments]
    command += ["--output-dir", str(output_dir), "--var-dir", str(tmp_path / "var")]
    completed = subprocess.run(command, cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, f"{name} failed:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
    files = list(output_dir.glob(f"{Path(name).stem}-*.txt"))
    assert len(files) == 1, files
    return completed.stdout, files[0]


def test_the_archive_throughput_script_runs(tmp_path):
    stdout, raw = run_script(
        "archive_throughput.py",
        *("--sizes", "2", "--throughput-size", "2", "--repeat", "1", "--render-seconds", "0"),
        tmp_path=tmp_path,
    )

    assert "machine: " in stdout and "python: " in stdout
    assert re.search(r"plain boto3 copy\s+[\d.]+ s\s+[\d.]+\s+1\.00", stdout), stdout
    assert re.search(r"ours \(archive_video\)\s+[\d.]+ s\s+[\d.]+\s+[\d.]+\s+(MET|MISSED)", stdout), stdout
    assert re.search(r"ours minus probe\+poster\s*[\d.]+ s", stdout), stdout
    for kind in ("ours", "plain"):
        assert re.search(rf"2 MB\s+{re.escape(kind)}\s+[\d.]+\s+[\d.]+\s+[+-][\d.]+", stdout), (kind, stdout)
    assert "under 150 MB: " in stdout
    assert "ours (archive_video)" in raw.read_text()


def test_the_poster_timing_script_runs(tmp_path):
    stdout, raw = run_script(
        "poster_timing.py",
        *("--runs", "2", "--cold-runs", "1", "--seconds", "1", "--resolution", "480p"),
        tmp_path=tmp_path,
    )

    assert "machine: " in stdout
    assert "864x480 h264 24 fps, 1.00 s" in stdout  # Seedance's 480p 16:9 size, rendered by the simulator
    for name in ("media.probe_video", "media.extract_poster", "ours: probe + poster", "hand-written", "fresh process"):
        assert re.search(rf"{re.escape(name)}.*p50\s+[\d.]+\s+p95\s+[\d.]+", stdout), (name, stdout)
    assert re.search(r"ours p50 [\d.]+ ms, p95 [\d.]+ ms against a target of <= 300 ms: (MET|MISSED)", stdout)
    assert "ours / hand-written at p50" in raw.read_text()
