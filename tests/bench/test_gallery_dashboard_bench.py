"""The gallery and dashboard benchmark (bench/gallery_dashboard.py), at a tiny size, on the test
database (SQLite or PostgreSQL): it seeds, measures every page and prints its figures.

Not a measurement (200 rows say nothing about a million); it keeps the script and the seeding
command working. The real run is `bench/gallery_dashboard.py` with its defaults (bench/README.md).
"""

from __future__ import annotations

import importlib.util
import io
import re
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from generations import dashboard, gallery
from generations.models import Batch, Generation

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("bench_gallery_dashboard", ROOT / "bench" / "gallery_dashboard.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def script():
    return load_script()


def test_the_benchmark_seeds_measures_and_prints_its_figures(db, script):
    lines: list[str] = []
    results = script.run_benchmark(sizes=[120, 200], runs=2, warmup=1, emit=lines.append)
    output = "\n".join(lines)

    assert Generation.objects.count() == 200
    assert dashboard.count_drift() == []
    pages = [
        "gallery, first page",
        "gallery, page 1,000",
        "search, common word",
        "search, rare word",
        "admin dashboard",
    ]
    assert [m.page for m in results] == pages * 2
    for measurement in results:
        assert 0 < measurement.p50 <= measurement.p95
        assert measurement.queries > 0
    for size in ("120", "200"):
        for page in pages:
            assert re.search(rf"^\s+{size}  {re.escape(page)}\s+[\d.]+\s+[\d.]+\s+\d+\s+[\d.]+", output, re.M), page
    # 200 rows are 9 pages: "page 1,000" is the last one, and says so.
    assert "(page 9, the last)" in output
    assert "growth 120 → 200 (p50 ratio) and targets at 200:" in output
    assert re.search(r"admin dashboard\s+×[\d.]+\s+queries constant\s+p50 ≤ 200 ms: (met|MISSED)", output)


def test_the_deep_page_cursor_is_the_one_walking_the_pages_reaches(db, script):
    call_command("seed_bench", "--count", "130", "--quiet")
    cursor, page = script.deep_page_cursor(4)
    assert page == 4
    walked = gallery.generation_page(gallery.Filters())
    for _ in range(2):
        walked = gallery.generation_page(gallery.Filters(), after=walked.next_cursor)
    assert cursor == walked.next_cursor
    # Fewer rows than asked: the last page.
    assert script.deep_page_cursor(1000)[1] == 6


def test_the_seeding_command_makes_realistic_rows(db):
    out = io.StringIO()
    call_command("seed_bench", "--count", "300", stdout=out)
    assert "Added 300 generations" in out.getvalue()
    rows = Generation.objects.all()
    assert rows.count() == 300
    statuses = set(rows.values_list("status", flat=True))
    assert {Generation.Status.COMPLETED, Generation.Status.FAILED} <= statuses
    assert statuses & {*Generation.IN_FLIGHT, Generation.Status.PENDING, Generation.Status.ARCHIVING}
    assert len(set(rows.values_list("resolution", flat=True))) == 3
    assert rows.filter(batch__isnull=False).exists() and Batch.objects.exists()
    completed = rows.filter(status=Generation.Status.COMPLETED)
    assert not completed.filter(video_bytes__isnull=True).exists()
    assert dashboard.storage_used().bytes == sum(completed.values_list("video_bytes", flat=True))
    # Real sentences: the benchmark's search words are in them.
    assert rows.filter(prompt_text__icontains="golden").exists()
    assert dashboard.count_drift() == []
