"""Uploads through fal_client.upload aimed at the simulator, and the served files (including broken videos)."""

from __future__ import annotations

import io
import json
import os
import ssl
import subprocess
import sys

import av
import httpx
import pytest

from fal_simulator.server import ENDPOINT_ID

from .helpers import REPO, arguments, make_image, run_client

UPLOAD_AND_GENERATE = r"""
import json, os
import fal_client, fal_client.client

# fal-client hard-codes fal's REST and CDN hosts; they are module globals read at call time.
fal_client.client.REST_URL = fal_client.client.CDN_URL = os.environ["FAL_SIMULATOR_URL"]
url = fal_client.upload_file({path!r})
result = fal_client.subscribe("fal-ai/bytedance/seedance/v1/pro/fast/image-to-video",
                              arguments={{"prompt": "zoom", "image_url": url, "resolution": "480p", "duration": "2"}})
print(json.dumps({{"url": url, "result": result}}))
"""


def client(sim) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(sim.ca_file)), timeout=10)


def test_upload_then_use_as_image_url(fal, sim):
    image = make_image(360, 240)
    url = fal.upload(image, "image/png", "still.png")

    assert url.startswith(f"{sim.base_url}/files/")
    assert url.endswith("/still.png")
    with client(sim) as http:
        served = http.get(url)
    assert served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["content-length"] == str(len(image))
    assert sim.counters.get("upload_tokens") == 1

    handle = fal.submit(ENDPOINT_ID, arguments(url, aspect_ratio="auto"))
    assert handle.get(interval=0.02)["video"]["url"]
    assert sim.job(handle.request_id).params.image_url == url


def test_upload_file_in_a_fresh_process(sim, tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(make_image(300, 300, fmt="JPEG"))
    out = run_client(sim, UPLOAD_AND_GENERATE.format(path=str(path)))
    assert out["url"].endswith("/photo.jpg")
    assert out["result"]["video"]["url"].startswith(sim.base_url)


POINTED_IN_PROCESS = r"""
import json, os, sys
import fal_client
from fal_simulator.patch import point_fal_client

# Imported without FAL_QUEUE_RUN_HOST: aim the already imported client at the simulator.
point_fal_client(sys.argv[1], ca_file=sys.argv[2], key=sys.argv[3])
url = fal_client.upload(b"GIF89a-not-really", "image/gif", "x.gif")
handle = fal_client.submit("fal-ai/bytedance/seedance/v1/pro/fast/image-to-video", {"prompt": "p", "image_url": url})
print(json.dumps({"url": url, "status_url": handle.status_url}))
"""


def test_point_fal_client_after_import(sim):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "SSL_CERT"))}
    proc = subprocess.run(
        [sys.executable, "-c", POINTED_IN_PROCESS, sim.base_url, str(sim.ca_bundle_file), sim.fal_key],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["url"].startswith(sim.base_url)
    assert out["status_url"].startswith(sim.base_url)
    assert sim.counters.get("requests_created") == 1


def test_the_fallback_repository_works_too(fal, sim):
    url = fal.upload(b"\x89PNG fake", "image/png", "x.png", repository="fal")
    with client(sim) as http:
        assert http.get(url).content == b"\x89PNG fake"


def test_upload_needs_a_valid_token(sim):
    with client(sim) as http:
        answer = http.post(f"{sim.base_url}/files/upload", content=b"x", headers={"Authorization": "Bearer forged.1"})
    assert answer.status_code == 401


@pytest.mark.parametrize("fault", ["truncated", "short_read", "not_mp4"])
def test_broken_video_downloads(fal, sim, image_uri, fault):
    url = fal.subscribe(ENDPOINT_ID, arguments(image_uri), interval=0.02)["video"]["url"]
    with client(sim) as http:
        whole = http.get(url).content
        sim.configure(video_fault=fault)
        if fault == "short_read":
            with pytest.raises(httpx.RemoteProtocolError):
                http.get(url)
            return
        broken = http.get(url)
    assert broken.status_code == 200
    if fault == "truncated":  # a well-formed HTTP answer whose mp4 is cut in half
        assert broken.headers["content-type"] == "video/mp4"
        assert broken.headers["content-length"] == str(len(whole) // 2)
        assert broken.content == whole[: len(whole) // 2]
        return
    assert broken.headers["content-type"].startswith("text/html")
    with pytest.raises(av.error.InvalidDataError):
        av.open(io.BytesIO(broken.content))
