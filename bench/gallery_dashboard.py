#!/usr/bin/env python
"""The gallery and the dashboard at 10k, 100k and 1M generations (issue 7, measurements 3 and 4).

    .venv/bin/python bench/gallery_dashboard.py --sizes 10000,100000,1000000 --runs 30

Uses a dedicated PostgreSQL database (default postgres://postgres@127.0.0.1:5432/seedance_bench,
created if missing, migrated), grows it to each size in turn with `manage.py seed_bench` (only
the generations missing; --fresh starts from an empty database), runs VACUUM ANALYZE, then, in
this process, requests each page through Django's test Client exactly as a browser would (every
middleware, the session, the view, the template), logged in as a team member ("viewer" group)
for the gallery and as an admin for the dashboard:

- gallery, first page:       /
- gallery, page 1,000:       /?after=<cursor>: the cursor the gallery itself hands out at the end of
                             page 999 (the last row of page 999 in the gallery's order; with fewer
                             than 24,000 visible rows, the last page instead, and it says which)
- search, common word:       /?status=completed&resolution=1080p&q=golden   (about 1 prompt in 8)
- search, rare word:         /?status=completed&resolution=1080p&q=lighthouse (about 1 in 40)
- admin dashboard:           /admin/dashboard/

Each page is warmed up (--warmup, 3), then timed --runs times (wall clock around the whole
request/response); p50 and p95 are reported with the number of SQL queries (counted in one more
run, with CaptureQueriesContext) and the time those queries took in that run. Then the growth
from the smallest to the largest size, the targets (gallery p50 ≤ 50 ms at the largest size,
growth under 2×, a constant query count; dashboard p50 ≤ 200 ms) and the machine. Everything
printed is also written to bench/results/gallery_dashboard-<YYYYMMDD-HHMM>.txt.

tests/bench/test_gallery_dashboard_bench.py runs run_benchmark() at a tiny size on the test
database (SQLite or PostgreSQL) to keep this script working.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import secrets
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seedance_bench"
# Databases this script must never seed: the maintenance database and the team's own.
FORBIDDEN_DATABASES = {"postgres", "template0", "template1", "mainpg", "helpera", "helperb"}
VAR_DIR = "var/bench-gallery"
COMMON_WORD, RARE_WORD = "golden", "lighthouse"
DEEP_PAGE = 1000
GALLERY_TARGET_MS, DASHBOARD_TARGET_MS, GROWTH_TARGET = 50.0, 200.0, 2.0
VIEWER, ADMIN = "bench-viewer", "bench-admin"


@dataclass
class Measurement:
    size: int
    page: str
    note: str
    p50: float  # milliseconds
    p95: float
    queries: int
    sql_ms: float


# --- Set-up (command line only) -------------------------------------------------------------


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def check_database_url(url: str) -> None:
    name = database_name(url)
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("The benchmark needs PostgreSQL: give a postgres:// URL.")
    if not name or name in FORBIDDEN_DATABASES or name.startswith("test_") or name == "test":
        raise SystemExit(f"Refusing to seed the database {name!r}: use a dedicated one (default seedance_bench).")


def ensure_database(url: str, *, fresh: bool) -> None:
    """Create the benchmark database when missing (or again, with --fresh)."""
    import psycopg
    from psycopg import sql

    name = database_name(url)
    if not fresh:
        try:
            psycopg.connect(url).close()
            return
        except psycopg.OperationalError as exc:
            if "does not exist" not in str(exc):
                raise
    # CREATE/DROP DATABASE must be sent from another database: the server's maintenance one
    # ("postgres", as createdb does); nothing else is done there.
    maintenance = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def configure_environment(url: str) -> None:
    """The same environment as the tests: no .env file, a throwaway secret, our own var dir."""
    os.environ.update(
        {
            "SEEDANCE_ENV_FILE": "",
            "SEEDANCE_VAR_DIR": VAR_DIR,
            "DATABASE_URL": url,
            "DB_CONN_MAX_AGE": "60",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "FAL_KEY": "",
            "PUBLIC_BASE_URL": "",
            "DJANGO_SETTINGS_MODULE": "seedance_studio.settings",
        }
    )
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    # collectstatic is not run (WhiteNoise finds the files in the apps), as in the tests.
    warnings.filterwarnings("ignore", message="No directory at")
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


# --- Measuring (usable from tests, inside a configured Django) -------------------------------


def users():
    """A team member in the "viewer" group (the gallery) and a superuser (the dashboard)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from generations.roles import ensure_groups

    ensure_groups()
    model = get_user_model()
    viewer, created = model.objects.get_or_create(username=VIEWER, defaults={"email": f"{VIEWER}@example.com"})
    if created:
        viewer.groups.add(Group.objects.get(name="viewer"))
    admin, _ = model.objects.get_or_create(
        username=ADMIN, defaults={"email": f"{ADMIN}@example.com", "is_staff": True, "is_superuser": True}
    )
    return viewer, admin


def deep_page_cursor(page: int = DEEP_PAGE) -> tuple[str | None, int]:
    """The `after` cursor the gallery hands out at the end of page `page - 1` (newest first, all
    visible generations), and the page it opens: `page`, or the last page when there are fewer.

    It is the cursor of the last row of that previous page, read with the gallery's own
    queryset and order (with an OFFSET, once, untimed); walking the pages gives the same one.
    """
    from generations import gallery

    visible = gallery.card_queryset().count()
    pages = max(1, math.ceil(visible / gallery.PAGE_SIZE))
    page = min(page, pages)
    if page == 1:
        return None, 1
    ordered = gallery.card_queryset().order_by("-created_at", "-id").values_list("created_at", "id")
    created_at, pk = ordered[(page - 1) * gallery.PAGE_SIZE - 1]
    return gallery.encode_cursor(created_at, pk), page


def pages(deep_cursor: str | None, deep_page: int) -> list[tuple[str, str, str, str]]:
    """(name, note, user, url) of every page measured."""
    search = {"status": "completed", "resolution": "1080p"}
    deep_note = "" if deep_page == DEEP_PAGE else f"(page {deep_page}, the last)"
    return [
        ("gallery, first page", "", "viewer", "/"),
        (
            f"gallery, page {DEEP_PAGE:,}",
            deep_note,
            "viewer",
            "/?" + urlencode({"after": deep_cursor}) if deep_cursor else "/",
        ),
        ("search, common word", f"q={COMMON_WORD}", "viewer", "/?" + urlencode({**search, "q": COMMON_WORD})),
        ("search, rare word", f"q={RARE_WORD}", "viewer", "/?" + urlencode({**search, "q": RARE_WORD})),
        ("admin dashboard", "", "admin", "/admin/dashboard/"),
    ]


def measure_page(client, url: str, *, runs: int, warmup: int) -> tuple[float, float, int, float]:
    """(p50 ms, p95 ms, queries, SQL ms) of GET `url`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get():
        response = client.get(url, secure=True)  # as behind TLS: no redirect whatever SECURE_SSL_REDIRECT says
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        return response

    for _ in range(warmup):
        get()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        get()
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        get()
    sql_ms = sum(float(q["time"]) for q in captured.captured_queries) * 1000
    return percentile(timings, 0.5), percentile(timings, 0.95), len(captured.captured_queries), sql_ms


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default, PERCENTILE_CONT's)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def grow_to(size: int, emit: Callable[[str], None]) -> None:
    """Seed the generations missing to reach `size`, then refresh the statistics."""
    from django.db import connection

    from generations.management.commands import seed_bench

    have = seed_bench.status_total()
    if have > size:
        raise SystemExit(f"The database already has {have:,} generations, more than {size:,}: use --fresh.")
    if have < size:
        started = time.perf_counter()
        seed_bench.seed(size - have)
        emit(f"seeded {size - have:,} generations (to {size:,}) in {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        emit(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")


def run_benchmark(
    *, sizes: list[int], runs: int, warmup: int = 3, emit: Callable[[str], None] = print
) -> list[Measurement]:
    """Grow the configured database to each size and measure every page; prints as it goes."""
    from django.test import Client

    viewer, admin = users()
    clients = {"viewer": Client(), "admin": Client()}
    clients["viewer"].force_login(viewer)
    clients["admin"].force_login(admin)
    results: list[Measurement] = []
    emit(f"{'size':>10}  {'page':<22} {'p50 ms':>8} {'p95 ms':>8} {'queries':>7} {'SQL ms':>7}  note")
    for size in sizes:
        grow_to(size, emit)
        cursor, deep_page = deep_page_cursor()
        for name, note, who, url in pages(cursor, deep_page):
            p50, p95, queries, sql_ms = measure_page(clients[who], url, runs=runs, warmup=warmup)
            results.append(Measurement(size, name, note, p50, p95, queries, sql_ms))
            emit(f"{size:>10,}  {name:<22} {p50:>8.1f} {p95:>8.1f} {queries:>7} {sql_ms:>7.1f}  {note}")
    for line in summary(results):
        emit(line)
    return results


def summary(results: list[Measurement]) -> list[str]:
    """Growth from the smallest to the largest size, and the targets, met or missed."""
    sizes = sorted({m.size for m in results})
    small, large = sizes[0], sizes[-1]
    by = {(m.size, m.page): m for m in results}
    lines = ["", f"growth {small:,} → {large:,} (p50 ratio) and targets at {large:,}:"]
    for page in dict.fromkeys(m.page for m in results):
        first, last = by[(small, page)], by[(large, page)]
        ratio = last.p50 / first.p50 if first.p50 else float("nan")
        constant = len({by[(size, page)].queries for size in sizes}) == 1
        if page == "admin dashboard":
            verdict = "met" if last.p50 <= DASHBOARD_TARGET_MS else "MISSED"
            target = f"p50 ≤ {DASHBOARD_TARGET_MS:.0f} ms: {verdict}"
        else:
            met = last.p50 <= GALLERY_TARGET_MS and ratio < GROWTH_TARGET and constant
            target = f"p50 ≤ {GALLERY_TARGET_MS:.0f} ms, growth < {GROWTH_TARGET:.0f}×, constant queries: " + (
                "met" if met else "MISSED"
            )
        queries = "constant" if constant else "VARIES " + "/".join(str(by[(s, page)].queries) for s in sizes)
        lines.append(f"  {page:<22} ×{ratio:.2f}  queries {queries:<9}  {target}")
    return lines


def machine() -> list[str]:
    from django import get_version
    from django.db import connection

    cpu = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT version()")
        else:
            cursor.execute("SELECT 'SQLite ' || sqlite_version()")
        database = cursor.fetchone()[0]
    return [
        f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"machine:  {cpu}, {os.cpu_count()} cores, {memory} RAM ({platform.platform()})",
        f"database: {database}",
        f"python:   {platform.python_version()}, Django {get_version()}",
        load_line("at start"),
    ]


def load_line(when: str) -> str:
    """The machine's load: other work running inflates absolute times (ratios much less)."""
    one, five, _fifteen = os.getloadavg()
    return f"load:     {one:.2f} (1 min), {five:.2f} (5 min) {when}, on {os.cpu_count()} cores"


# --- Command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="Comma-separated generation counts.")
    parser.add_argument("--runs", type=int, default=30, help="Timed requests per page and size.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed requests first.")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="A dedicated PostgreSQL database.")
    parser.add_argument("--fresh", action="store_true", help="Drop and recreate the database first.")
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())

    check_database_url(args.database_url)
    ensure_database(args.database_url, fresh=args.fresh)
    configure_environment(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M}"
    output = results_dir / f"gallery_dashboard-{stamp}.txt"
    for n in range(2, 100):
        if not output.exists():
            break
        output = results_dir / f"gallery_dashboard-{stamp}-{n}.txt"
    with output.open("w") as raw:

        def emit(line: str) -> None:
            print(line, flush=True)
            raw.write(line + "\n")
            raw.flush()

        emit(f"$ {' '.join([Path(sys.executable).name, 'bench/gallery_dashboard.py', *(argv or sys.argv[1:])])}")
        for line in machine():
            emit(line)
        emit(f"runs:     {args.runs} timed after {args.warmup} warm-up, per page and size; in-process test Client")
        emit("")
        run_benchmark(sizes=sizes, runs=args.runs, warmup=args.warmup, emit=emit)
        emit("")
        emit(load_line("at the end"))
    print(f"\nraw output: {output.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
