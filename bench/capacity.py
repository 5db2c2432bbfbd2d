#!/usr/bin/env python
"""In-flight capacity: N videos requested at once, each taking L seconds at fal.

    .venv/bin/python bench/capacity.py                      # N=500, L=10 s, naive N=40
    .venv/bin/python bench/capacity.py --n 100 --latency 5 --naive-n 10

Starts everything itself on this machine: SeaweedFS (S3), the fal simulator (every request
takes L seconds; fal's capacity is not the limit), the web app under gunicorn (it receives
fal's webhooks) and ONE Celery worker with 2 processes, on PostgreSQL and Redis by default
(`--database-url`, `--broker-url`; a database of its own, created and emptied).

Then, side by side in one run:
- ours: N generations created as the admin would (services.generation_create), submitted,
  followed by webhook, archived to S3 with a poster and measured metadata. Makespan from the
  first request to the last archived video, against L (the floor);
- naive: the design of fal's usage example, `fal_client.subscribe` inside a Celery task, then
  download and upload to S3 (bench/naive_worker.py), on the same worker size. It is measured
  on `--naive-n` videos (it needs about N·L/2 seconds, 42 minutes for N=500) and projected
  to N from its measured rate;
- the CPU time our web and worker processes spent per generation (from /proc).

Figures go to stdout and to bench/results/capacity-<date>.txt.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
VENV_BIN = Path(sys.executable).parent
QUEUE = "bench-capacity"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="generations requested at once (default 500)")
    parser.add_argument("--latency", type=float, default=10.0, help="seconds each video takes at fal (default 10)")
    parser.add_argument("--naive-n", type=int, default=40, help="videos for the naive design (default 40)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/seedance_capacity")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--resolution", default="480p")
    parser.add_argument("--duration", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds per design")
    parser.add_argument("--results-dir", default=str(BASE_DIR / "bench" / "results"))
    parser.add_argument("--var-dir", default=str(BASE_DIR / "var" / "bench-capacity"))
    return parser.parse_args(argv)


# --- processes and measurements ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live descendants, plus its reaped children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    total = (utime + stime + cutime + cstime) / TICKS
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        total += sum(cpu_seconds(int(child)) for child in children)
    return total


def wait_for_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded before any fork: the child only calls it


def _stop_with_parent() -> None:
    """In the child: get SIGTERM when the benchmark dies, so nothing outlives an interrupted run."""
    _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 (the child keeps it)
    return subprocess.Popen(
        argv,
        cwd=BASE_DIR,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_stop_with_parent,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown CPU",
    )
    mem_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    return f"{cpu}, {os.cpu_count()} CPUs, {mem_kb / 1024**2:.1f} GiB RAM, Python {platform.python_version()}"


# --- the set-up ------------------------------------------------------------------------------


def prepare_environment(args, var_dir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "seedance_studio.settings",
            "SEEDANCE_ENV_FILE": "",
            "SEEDANCE_VAR_DIR": str(var_dir),
            "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.broker_url,
            "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
            "FAL_KEY": "",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DB_CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
        }
    )
    if args.database_url.startswith("postgres"):
        import psycopg

        name = args.database_url.rsplit("/", 1)[1]
        admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')


def empty_database_and_broker(args) -> None:
    from generations.models import AuditEvent, Batch, Generation, Prompt, SourceImage

    for model in (Generation, Batch, AuditEvent, Prompt, SourceImage):
        model.objects.all().delete()
    if args.broker_url.startswith("redis"):
        import redis

        redis.Redis.from_url(args.broker_url).flushdb()


def demo_inputs():
    from django.contrib.auth import get_user_model

    from generations import services

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    with open(BASE_DIR / "generations" / "demo" / "coffee.png", "rb") as fh:
        image, _ = services.source_image_ingest(file=fh, filename="coffee.png", uploaded_by=user)
    prompt, _ = services.prompt_get_or_create(text="Steam rises slowly from the cup as the light warms.")
    return user, image, prompt


def request_generations(count: int, *, image, prompt, user, args, first_seed: int) -> None:
    from generations import services

    for index in range(count):
        params = services.GenerationParams.from_raw(
            resolution=args.resolution, duration=args.duration, seed=first_seed + index
        )
        services.generation_create(source_image=image, prompt=prompt, params=params, requested_by=user)


def wait_until_done(codes_filter, count: int, timeout: float) -> None:
    from generations.models import Generation

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ended = Generation.objects.filter(codes_filter, status__in=Generation.ENDS).count()
        if ended >= count:
            return
        time.sleep(0.25)
    raise RuntimeError(f"only {ended} of {count} generations ended within {timeout} s")


# --- the two designs -------------------------------------------------------------------------


def run_ours(args, *, user, image, prompt, web: subprocess.Popen, worker: subprocess.Popen, out) -> dict:
    from django.db.models import Max, Min, Q

    from generations.models import Generation

    first_seed = 10_000
    # Warm-up: one video end to end (the simulator's render cache, connections, imports).
    request_generations(1, image=image, prompt=prompt, user=user, args=args, first_seed=1)
    wait_until_done(Q(seed=1), 1, 120)

    web_before, worker_before = cpu_seconds(web.pid), cpu_seconds(worker.pid)
    started_wall = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    own_cpu = time.process_time()
    request_generations(args.n, image=image, prompt=prompt, user=user, args=args, first_seed=first_seed)
    own_cpu = time.process_time() - own_cpu
    requested_in = time.monotonic() - started
    ours = Q(seed__gte=first_seed)
    wait_until_done(ours, args.n, args.timeout)
    web_cpu, worker_cpu = cpu_seconds(web.pid) - web_before, cpu_seconds(worker.pid) - worker_before

    rows = Generation.objects.filter(ours)
    statuses = dict.fromkeys(Generation.Status.values, 0)
    for status in rows.values_list("status", flat=True):
        statuses[status] += 1
    span = rows.aggregate(first_submit=Min("submit_started_at"), last=Max("updated_at"))
    makespan = (span["last"] - started_wall).total_seconds()
    from_first_submit = (span["last"] - span["first_submit"]).total_seconds()
    durations = [(g.updated_at - g.created_at).total_seconds() for g in rows.only("created_at", "updated_at")]
    cpu_per_generation = (web_cpu + worker_cpu + own_cpu) / args.n
    return {
        "completed": statuses["completed"],
        "failed": statuses["failed"],
        "makespan": makespan,
        "from_first_submit": from_first_submit,
        "requested_in": requested_in,
        "p50_each": statistics.median(durations),
        "max_each": max(durations),
        "cpu_ms": cpu_per_generation * 1000,
        "cpu_request_ms": own_cpu / args.n * 1000,
        "cpu_web_ms": web_cpu / args.n * 1000,
        "cpu_worker_ms": worker_cpu / args.n * 1000,
    }


def run_naive(args, *, env: dict, fal_client_env: dict, logs: Path) -> dict:
    """fal_client.subscribe in a Celery task, on a worker of the same size."""
    import base64

    naive_broker = args.broker_url
    naive_dir = str(Path(os.environ["SEEDANCE_VAR_DIR"]) / "naive-broker")
    naive_env = {**env, **fal_client_env, "NAIVE_BROKER_URL": naive_broker, "NAIVE_BROKER_DIR": naive_dir}
    worker = spawn(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "bench.naive_worker",
            "worker",
            "--concurrency",
            "2",
            "--loglevel",
            "WARNING",
            "--queues",
            "naive",
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            "naive@%h",
        ],
        naive_env,
        logs / "naive-worker.log",
    )
    try:
        os.environ["NAIVE_BROKER_URL"] = naive_broker
        os.environ["NAIVE_BROKER_DIR"] = naive_dir
        from bench import naive_worker

        image = base64.b64encode((BASE_DIR / "generations" / "demo" / "coffee.png").read_bytes()).decode()
        arguments = {
            "prompt": "Steam rises slowly from the cup as the light warms.",
            "image_url": f"data:image/png;base64,{image}",
            "resolution": args.resolution,
            "duration": str(args.duration),
            "aspect_ratio": "auto",
        }
        warm = naive_worker.generate.apply_async(({**arguments, "seed": 1}, "naive/warm.mp4"), queue="naive")
        warm.get(timeout=300)
        started = time.monotonic()
        results = [
            naive_worker.generate.apply_async(({**arguments, "seed": 20_000 + i}, f"naive/{i}.mp4"), queue="naive")
            for i in range(args.naive_n)
        ]
        for result in results:
            result.get(timeout=args.timeout)
        makespan = time.monotonic() - started
    finally:
        stop(worker)
    return {"makespan": makespan, "projected": makespan / args.naive_n * args.n}


# --- main ------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    var_dir = Path(args.var_dir).resolve()
    for leftover in ("fal-simulator", "celery", "naive-broker"):  # a previous run's state and messages
        shutil.rmtree(var_dir / leftover, ignore_errors=True)
    var_dir.mkdir(parents=True, exist_ok=True)
    logs = var_dir / "logs"
    logs.mkdir(exist_ok=True)
    prepare_environment(args, var_dir)

    from tests.s3_server import S3Server

    lines: list[str] = []

    def out(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    with S3Server(base_dir=var_dir / "s3") as s3:
        os.environ.update(s3.env())
        web_port = free_port()
        os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{web_port}"

        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from fal_simulator.server import FalSimulator

        call_command("migrate", verbosity=0)
        empty_database_and_broker(args)
        simulator = FalSimulator(
            port=0, state_dir=settings.FAL_SIMULATOR_STATE_DIR, concurrency=1024, progress_latency=args.latency
        )
        simulator.start()
        # Our processes find the simulator through its client.env (FAL_KEY stays unset: simulated
        # mode); the naive worker is plain fal-client, configured by the environment instead.
        env = dict(os.environ)
        web = spawn(
            [
                str(VENV_BIN / "gunicorn"),
                "seedance_studio.wsgi",
                "-w",
                "2",
                "--threads",
                "8",
                "-b",
                f"127.0.0.1:{web_port}",
                "--log-level",
                "warning",
            ],
            env,
            logs / "web.log",
        )
        worker = spawn(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "seedance_studio",
                "worker",
                "--concurrency",
                "2",
                "--loglevel",
                "WARNING",
                "--queues",
                QUEUE,
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                "capacity@%h",
            ],
            env,
            logs / "worker.log",
        )
        try:
            wait_for_http(f"http://127.0.0.1:{web_port}/healthz")
            user, image, prompt = demo_inputs()
            out(f"# In-flight capacity — {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
            out(f"machine: {machine()}")
            out(
                f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[1]}, "
                f"broker: {args.broker_url.split('://')[0]}, "
                "storage: S3 (SeaweedFS on loopback), fal: simulator over HTTPS"
            )
            out(
                f"N = {args.n} videos ({args.resolution}, {args.duration} s), L = {args.latency:g} s at fal, "
                "one Celery worker with 2 processes; web: gunicorn 2×8 threads (webhooks)"
            )
            out()
            ours = run_ours(args, user=user, image=image, prompt=prompt, web=web, worker=worker, out=out)
            fal_calls = simulator.stats()["counters"]
            naive = run_naive(args, env=env, fal_client_env=simulator.client_env(), logs=logs)
        finally:
            stop(worker)
            stop(web)
            simulator.stop()

    floor = args.latency
    out("| design | videos | makespan | vs L (floor) | overhead over L |")
    out("|---|---|---|---|---|")
    out(
        f"| ours (submit + webhook + archive) | {args.n} | {ours['makespan']:.1f} s | "
        f"{ours['makespan'] / floor:.2f}× | "
        f"{ours['makespan'] - floor:.1f} s |"
    )
    out(
        f"| naive (`fal_client.subscribe` in a task) | {args.naive_n} measured | {naive['makespan']:.1f} s | "
        f"{naive['makespan'] / floor:.2f}× | {naive['makespan'] - floor:.1f} s |"
    )
    out(
        f"| naive, projected to N = {args.n} | {args.n} | {naive['projected']:.0f} s | "
        f"{naive['projected'] / floor:.0f}× | "
        f"(N·L/2 = {args.n * floor / 2:.0f} s) |"
    )
    out()
    out(
        f"ours: {ours['completed']} completed, {ours['failed']} failed; requests made in {ours['requested_in']:.1f} s; "
        f"first submit → last archived {ours['from_first_submit']:.1f} s; per video request → archived "
        f"p50 {ours['p50_each']:.1f} s, max {ours['max_each']:.1f} s"
    )
    out(f"ours vs naive at N = {args.n}: {naive['projected'] / ours['makespan']:.0f}× faster (projected)")
    out(
        f"CPU per generation (web + worker + creating it): {ours['cpu_ms']:.1f} ms "
        f"(creating it {ours['cpu_request_ms']:.1f} ms, web {ours['cpu_web_ms']:.1f} ms, "
        f"worker {ours['cpu_worker_ms']:.1f} ms); target ≤ 50 ms"
    )
    out(
        f"fal calls by our pipeline (warm-up included): submits {fal_calls.get('submits', 0)}, "
        f"status checks {fal_calls.get('status_calls', 0)}, results {fal_calls.get('result_calls', 0)}"
    )
    target = floor + 60
    out(
        f"target makespan ≤ L + 60 s = {target:g} s: {'met' if ours['makespan'] <= target else 'NOT met'}; "
        f"CPU ≤ 50 ms: {'met' if ours['cpu_ms'] <= 50 else 'NOT met'}"
    )

    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"capacity-{dt.datetime.now():%Y%m%d-%H%M}.txt"
    path.write_text("\n".join(lines) + "\n")
    print(f"\nraw output: {path}")
    return 0 if ours["completed"] == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
