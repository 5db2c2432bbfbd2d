"""Rendered videos: real H.264 mp4s with the requested size and duration, fetched the way a client would."""

from __future__ import annotations

import io
import ssl

import av
import httpx
import pytest

from fal_simulator.render import output_size
from fal_simulator.server import ENDPOINT_ID

from .helpers import arguments, data_uri, make_image


def download(sim, url: str) -> bytes:
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    response = httpx.get(url, verify=context, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content)
    return response.content


def probe(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "fps": float(stream.average_rate),
            "duration": container.duration / 1_000_000,
            "frames": frames,
        }


@pytest.mark.parametrize(
    ("resolution", "aspect", "expected"),
    [
        ("1080p", "16:9", (1920, 1088)),
        ("1080p", "9:16", (1088, 1920)),
        ("1080p", "1:1", (1440, 1440)),
        ("1080p", "21:9", (2176, 928)),
        ("1080p", "4:3", (1664, 1248)),
        ("720p", "16:9", (1248, 704)),
        ("720p", "3:4", (832, 1120)),
        ("480p", "16:9", (864, 480)),
        ("480p", "9:16", (480, 864)),
    ],
)
def test_output_sizes(resolution, aspect, expected):
    assert output_size(resolution, aspect) == (*expected, aspect)


@pytest.mark.parametrize(
    ("image_size", "snapped"),
    [((400, 300), "4:3"), ((1000, 1000), "1:1"), ((1920, 1200), "16:9"), ((300, 520), "9:16"), ((2400, 1000), "21:9")],
)
def test_auto_snaps_to_the_nearest_allowed_ratio(image_size, snapped):
    assert output_size("720p", "auto", image_size)[2] == snapped


@pytest.mark.parametrize(
    ("overrides", "image", "size", "seconds"),
    [
        ({"resolution": "480p", "aspect_ratio": "16:9", "duration": "2"}, (320, 240), (864, 480), 2),
        ({"resolution": "720p", "aspect_ratio": "9:16", "duration": 3}, (320, 240), (704, 1248), 3),
        (
            {"resolution": "480p", "aspect_ratio": "auto", "duration": "4", "camera_fixed": True},
            (300, 400),
            (544, 736),
            4,
        ),
        ({"resolution": "1080p", "aspect_ratio": "16:9", "duration": "2"}, (640, 360), (1920, 1088), 2),
    ],
)
def test_the_video_is_a_real_mp4_of_the_requested_size_and_duration(fal, sim, overrides, image, size, seconds):
    image_url = data_uri(make_image(*image))
    result = fal.subscribe(ENDPOINT_ID, arguments(image_url, **overrides), interval=0.02)

    data = download(sim, result["video"]["url"])
    assert result["video"]["file_size"] == len(data)
    info = probe(data)
    assert info["codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == size
    assert info["fps"] == 24
    assert info["frames"] == 24 * seconds
    assert abs(info["duration"] - seconds) <= 0.1
    assert data.find(b"moov") < data.find(b"mdat")  # +faststart: the index comes first


def test_renders_are_cached(fal, sim):
    image_url = data_uri(make_image(330, 250))
    first = fal.subscribe(ENDPOINT_ID, arguments(image_url), interval=0.02)
    second = fal.subscribe(ENDPOINT_ID, arguments(image_url, prompt="another prompt, same picture"), interval=0.02)

    assert sim.counters.get("renders") == 1
    assert sim.counters.get("render_cache_hits") == 1
    assert first["video"]["url"] != second["video"]["url"]  # each request gets its own file
    assert first["video"]["file_size"] == second["video"]["file_size"]


def test_the_seed_is_returned_or_drawn(fal, image_uri):
    given = fal.subscribe(ENDPOINT_ID, arguments(image_uri, seed=42), interval=0.02)
    drawn = fal.subscribe(ENDPOINT_ID, arguments(image_uri, seed=-1), interval=0.02)
    assert given["seed"] == 42
    assert isinstance(drawn["seed"], int) and drawn["seed"] >= 0


def test_files_support_head_and_ranges(fal, sim, image_uri):
    url = fal.subscribe(ENDPOINT_ID, arguments(image_uri), interval=0.02)["video"]["url"]
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    with httpx.Client(verify=context) as client:
        whole = client.get(url).content
        head = client.head(url)
        assert int(head.headers["content-length"]) == len(whole)
        assert head.headers["accept-ranges"] == "bytes"
        part = client.get(url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.content == whole[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(whole)}"
        assert client.get(url, headers={"Range": "bytes=-5"}).content == whole[-5:]
        assert client.get(url, headers={"Range": f"bytes={len(whole)}-"}).status_code == 416
