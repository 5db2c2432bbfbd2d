"""tests/s3_server.py itself: the S3 server the archive tests rely on behaves like a private bucket."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.s3_server import S3Server


def test_it_listens_on_loopback_only_on_the_ports_it_chose(s3_server):
    listening = _listening_sockets(s3_server.pid)

    assert listening, "weed has no listening socket?"
    assert {host for host, _ in listening} == {"127.0.0.1"}
    assert {port for _, port in listening} <= set(s3_server.ports.values())
    assert len(set(s3_server.ports.values())) == len(s3_server.ports) == 10
    assert s3_server.last_start_seconds < 10


def test_it_enforces_credentials(s3_server):
    s3_server.client().put_object(Bucket=s3_server.bucket, Key="auth/ok.txt", Body=b"ok")
    wrong = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-the-secret",
        config=Config(s3={"addressing_style": "path"}),
    )

    with pytest.raises(ClientError) as caught:
        wrong.get_object(Bucket=s3_server.bucket, Key="auth/ok.txt")

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unsigned = httpx.get(f"{s3_server.endpoint_url}/{s3_server.bucket}/auth/ok.txt")
    assert unsigned.status_code == 403


def test_presigned_urls_from_the_storage_work(settings, s3_server):
    settings.STORAGES = {**settings.STORAGES, "default": s3_server.storages_settings()}
    name = default_storage.save("presigned/hello.txt", ContentFile(b"hello"))

    response = httpx.get(default_storage.url(name))

    assert response.status_code == 200
    assert response.content == b"hello"


def test_a_restart_keeps_the_ports_and_the_objects(tmp_path):
    with S3Server(base_dir=tmp_path / "s3") as server:
        server.client().put_object(Bucket=server.bucket, Key="kept.txt", Body=b"still here")
        ports = dict(server.ports)

        server.stop()
        assert not server.running
        with pytest.raises(Exception):  # noqa: B017 (the connection is refused, whatever botocore calls it)
            server.client(retries={"max_attempts": 1}, connect_timeout=1).list_buckets()
        server.start()

        assert server.ports == ports
        body = server.client().get_object(Bucket=server.bucket, Key="kept.txt")["Body"].read()
        assert body == b"still here"
    assert not server.running


def test_env_points_the_project_settings_at_it(s3_server):
    """A separate process configured only by env() (as a Celery worker would be) writes to the bucket."""
    script = (
        "import django; django.setup()\n"
        "from django.core.files.base import ContentFile\n"
        "from django.core.files.storage import default_storage\n"
        "print(default_storage.save('from-env/hello.txt', ContentFile(b'hi')))\n"
    )
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("AWS_")},
        "DJANGO_SETTINGS_MODULE": "seedance_studio.settings",
        "SEEDANCE_ENV_FILE": "",
        "SECRET_KEY": "insecure-test-only-key",
        **s3_server.env(),
    }

    done = subprocess.run(
        [sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "from-env/hello.txt"
    assert s3_server.client().get_object(Bucket=s3_server.bucket, Key="from-env/hello.txt")["Body"].read() == b"hi"


def _listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(host, port) of the TCP sockets process `pid` listens on, from /proc (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                listening.add((_ip(address), int(port, 16)))
    return listening


def _ip(hex_address: str) -> str:
    if len(hex_address) == 8:  # IPv4, little-endian
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return f"ipv6:{hex_address}"
