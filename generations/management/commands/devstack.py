"""`make run`: the whole app on one machine, in the foreground, until Ctrl-C.

Migrates, seeds the demo library, then runs the fal simulator (when no FAL_KEY
is set), the web server, a Celery worker and Celery beat as child processes, and stops all of them cleanly on Ctrl-C or
when any one of them dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

BASE_DIR = Path(settings.BASE_DIR)


class Command(BaseCommand):
    help = "Run web server + Celery worker on the configured (by default embedded) services."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port: int, host: str, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo")
        env = os.environ.copy()
        # fal reports completion to the dev server by webhook (the simulator reaches loopback).
        env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
        children = {}
        if settings.FAL_SIMULATED:
            children["fal-simulator"] = self._start_simulator(env)
        celery = [str(Path(sys.executable).with_name("celery")), "-A", "seedance_studio"]
        children |= {
            "web": self._spawn([sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"], env),
            "worker": self._spawn([*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"], env),
            # Beat in its own process, as in production (embedded in the worker it slows shutdown).
            "beat": self._spawn(
                [*celery, "beat", "--loglevel", "INFO", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")],
                env,
            ),
        }
        self._banner(host, port)
        self._supervise(children)

    def _start_simulator(self, env: dict) -> subprocess.Popen:
        """The local stand-in for fal.ai; it writes client.env, which every process reads."""
        client_env = Path(settings.FAL_SIMULATOR_STATE_DIR) / "client.env"
        client_env.unlink(missing_ok=True)
        port = os.environ.get("FAL_SIMULATOR_PORT", "0")  # 0: any free port, published in client.env
        child = self._spawn([sys.executable, "manage.py", "fal_simulator", "--port", port], env)
        deadline = time.monotonic() + 30
        while not client_env.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                child.kill()
                raise CommandError("The fal simulator did not start; see its output above.")
            time.sleep(0.1)
        return child

    def _spawn(self, argv: list[str], env: dict) -> subprocess.Popen:
        # A session of its own, so Ctrl-C reaches only us and we stop children in order.
        return subprocess.Popen(argv, cwd=BASE_DIR, env=env, start_new_session=True)

    def _banner(self, host: str, port: int) -> None:
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "(see .env)")
        fal = (
            "the local fal simulator (no FAL_KEY is set; how to reach it: "
            f"{settings.FAL_SIMULATOR_STATE_DIR}/client.env)"
            if settings.FAL_SIMULATED
            else "fal.ai (FAL_KEY is set)"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nSeedance Studio is running at http://{host}:{port}/\n"
                f"  admin:  http://{host}:{port}/admin/   user: admin   password: {password}\n"
                f"  videos: {fal}\n"
                "  try:   .venv/bin/python manage.py generate --image generations/demo/coffee.png "
                '--prompt "Steam rises slowly" --resolution 480p --duration 3 --wait\n'
                "  Ctrl-C stops everything.\n"
            )
        )

    def _supervise(self, children: dict[str, subprocess.Popen]) -> None:
        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with status {child.returncode}; stopping everything.")
                    stopping, exit_code = True, 1
                    break
            time.sleep(0.3)
        self.stdout.write("Stopping…")
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)
