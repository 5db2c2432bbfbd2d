"""Helpers shared by the fal simulator tests."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image, ImageDraw

from fal_simulator.server import FalSimulator
from tests.conftest import wait_until  # noqa: F401 (the simulator tests import it from here)

REPO = Path(__file__).resolve().parents[2]


def make_image(width: int = 320, height: int = 240, colour=(40, 110, 200), fmt: str = "PNG") -> bytes:
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 16):
        draw.line([(x, 0), (width - x, height)], fill=(255, (x * 3) % 256, 80), width=3)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def data_uri(data: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def arguments(image_url: str, **overrides) -> dict:
    """Cheap defaults (480p, 2 s) unless a test asks for more."""
    return {
        "prompt": "A slow zoom over the scene",
        "image_url": image_url,
        "resolution": "480p",
        "duration": "2",
        **overrides,
    }


def run_client(sim: FalSimulator, code: str, timeout: float = 60) -> dict:
    """Runs fal-client code in a fresh interpreter configured only by sim.client_env(); returns its JSON stdout."""
    env = {**os.environ, **sim.client_env()}
    env.pop("FAL_KEY_ID", None)
    env.pop("FAL_KEY_SECRET", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


class WebhookReceiver:
    """A plain-http server on 127.0.0.1 (like Django's dev server) that records webhook POSTs."""

    def __init__(self):
        self.calls: list[dict] = []
        self.fail_next = 0  # answer this many deliveries with 500 first
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    receiver.calls.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "answered": 500 if failing else 200,
                            "at": time.monotonic(),
                        }
                    )
                    receiver._cond.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/fal"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.calls) >= count, timeout):
                raise AssertionError(f"{len(self.calls)} webhook calls, expected {count}")
            return list(self.calls)

    def delivered(self) -> list[dict]:
        with self._cond:
            return [c for c in self.calls if c["answered"] == 200]

    def close(self):
        self._server.shutdown()
        self._server.server_close()
