"""The command line (python -m fal_simulator.cli, and the manage.py adapter): env lines, flags, clean shutdown."""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import subprocess
import sys
import threading

import httpx
import pytest

from fal_simulator import cli

from .helpers import REPO

ENV_NAMES = [
    "FAL_QUEUE_RUN_HOST",
    "SSL_CERT_FILE",
    "FAL_KEY",
    "FAL_SIMULATOR_JWKS_URL",
    "FAL_SIMULATOR_URL",
    "FAL_SIMULATOR_CA_FILE",
]

MANAGE_PY = """
import sys
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["fal_simulator"], FAL_SIMULATOR_STATE_DIR=sys.argv[1])
django.setup()
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "fal_simulator", "--port", "0", "--concurrency", "3"])
"""


def start(command: list[str]) -> tuple[subprocess.Popen, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k != "FAL_SIMULATOR_KEY"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read():
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if len(lines) == len(ENV_NAMES):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=20)
    if len(lines) < len(ENV_NAMES):
        process.kill()
        pytest.fail(f"no env lines; stderr: {process.communicate()[1][-2000:]}")
    return process, dict(line.split("=", 1) for line in lines)


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()


def config(env: dict[str, str]) -> dict:
    context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
    return httpx.get(f"{env['FAL_SIMULATOR_URL']}/_simulator/config", verify=context).json()


def test_it_prints_the_client_env_and_stops_cleanly(tmp_path):
    state = tmp_path / "state"
    process, env = start(
        [
            sys.executable,
            "-m",
            "fal_simulator.cli",
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--concurrency",
            "2",
            "--latency",
            "0.5",
            "--rate-429",
            "status=0.25",
            "--seed",
            "5",
            "--webhook-duplicate",
        ]
    )
    try:
        assert list(env) == ENV_NAMES
        host, port = env["FAL_QUEUE_RUN_HOST"].split(":")
        assert host == "localhost" and int(port) > 0
        assert env["FAL_SIMULATOR_JWKS_URL"] == f"https://localhost:{port}/.well-known/jwks.json"
        assert env["SSL_CERT_FILE"] == str(state.resolve() / "ca-bundle.pem")
        assert env["FAL_KEY"]
        written = (state / "client.env").read_text().splitlines()
        assert [line for line in written if not line.startswith("#")] == [f"{k}={v}" for k, v in env.items()]

        switches = config(env)
        assert switches["concurrency"] == 2
        assert switches["progress_latency"] == 0.5
        assert switches["rate_429"] == {"status": 0.25}
        assert switches["random_seed"] == 5
        assert switches["webhook_duplicate"] is True
    finally:
        code = stop(process)
    assert code == 0
    assert not (state / "client.env").exists()


def test_the_manage_py_command_is_a_thin_adapter(tmp_path):
    state = tmp_path / "django-state"
    process, env = start([sys.executable, "-c", MANAGE_PY, str(state)])
    try:
        assert env["SSL_CERT_FILE"] == str(state.resolve() / "ca-bundle.pem")  # settings.FAL_SIMULATOR_STATE_DIR
        assert config(env)["concurrency"] == 3
    finally:
        code = stop(process)
    assert code == 0


def test_main_in_process_with_a_stop_event(tmp_path):
    import io

    out, stop_event = io.StringIO(), threading.Event()
    thread = threading.Thread(target=cli.main, args=(["--port", "0", "--state-dir", str(tmp_path)], out, stop_event))
    thread.start()
    try:
        for _ in range(200):
            if out.getvalue().count("\n") >= len(ENV_NAMES):
                break
            threading.Event().wait(0.05)
        lines = dict(line.split("=", 1) for line in out.getvalue().splitlines())
        assert set(lines) == set(ENV_NAMES)
    finally:
        stop_event.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_flags_map_onto_simulator_options():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    options = vars(
        parser.parse_args(
            ["--rate-500", "0.1", "--force-422", "--video-fault", "truncated", "--queue-latency", "2", "--port", "0"]
        )
    )
    kwargs = cli.simulator_kwargs(options)
    assert kwargs["rate_500"] == "0.1"
    assert kwargs["force_422"] is True
    assert kwargs["video_fault"] == "truncated"
    assert kwargs["queue_latency"] == 2.0
    assert "concurrency" not in kwargs  # unset flags keep the defaults
