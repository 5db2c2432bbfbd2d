"""Fixtures for the archive tests: a real S3 server, real videos, and a local "fal CDN" serving them."""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.archive import videos
from tests.conftest import make_image_bytes
from tests.s3_server import S3Server


@pytest.fixture(scope="session")
def s3_server():
    """SeaweedFS on loopback for the whole session (about 1 s to start)."""
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_settings(settings, s3_server):
    """Django's default storage is the S3 server for this test."""
    settings.STORAGES = {**settings.STORAGES, "default": s3_server.storages_settings()}
    return settings


@pytest.fixture
def keys():
    """A fresh pair of keys, shaped like the ones the pipeline passes."""
    code = uuid.uuid4()
    return f"generations/2030/01/{code}.mp4", f"generations/2030/01/{code}.jpg"


@dataclass(frozen=True)
class MediaFiles:
    folder: Path
    good_2s: Path
    good_5s: Path
    no_faststart_2s: Path
    hd_1080p: Path
    truncated_5s: Path  # moov present (faststart), media data cut
    truncated_moov: Path  # moov at the end, cut off
    garbled: Path  # intact structure, undecodable frames
    audio_only: Path
    quicktime: Path
    matroska: Path
    text: Path
    png: Path


@pytest.fixture(scope="session")
def media_files(tmp_path_factory) -> MediaFiles:
    folder = tmp_path_factory.mktemp("media")
    good_5s = videos.make_video(folder / "good_5s.mp4", seconds=5)
    no_faststart = videos.make_video(folder / "no_faststart_2s.mp4", seconds=2, faststart=False)
    text = folder / "text.txt"
    text.write_text("<html>Not found, but said with a 200.</html>\n")
    png = folder / "still.png"
    png.write_bytes(make_image_bytes(640, 360))
    return MediaFiles(
        folder=folder,
        good_2s=videos.make_video(folder / "good_2s.mp4", seconds=2),
        good_5s=good_5s,
        no_faststart_2s=no_faststart,
        hd_1080p=videos.make_video(folder / "hd_1080p.mp4", seconds=1, width=1920, height=1080),
        truncated_5s=videos.truncate_copy(good_5s, folder / "truncated_5s.mp4", keep_fraction=0.7),
        truncated_moov=videos.truncate_copy(no_faststart, folder / "truncated_moov.mp4", keep_fraction=0.7),
        garbled=videos.garble_media_data(good_5s, folder / "garbled.mp4"),
        audio_only=videos.make_audio_only_mp4(folder / "audio_only.mp4"),
        quicktime=videos.make_video(folder / "quicktime.mov", seconds=1, container_format="mov"),
        matroska=videos.make_video(folder / "matroska.mkv", seconds=1, container_format="matroska"),
        text=text,
        png=png,
    )


@pytest.fixture(scope="session")
def big_video(media_files) -> Path:
    """A valid ~64 MB MP4 of 5 s (made in well under a second)."""
    return videos.make_big_intra_mp4(media_files.folder / "big_5s.mp4", seconds=5, width=720, height=400)


# --- A local stand-in for fal's CDN ------------------------------------------------------------


class _CdnHandler(http.server.BaseHTTPRequestHandler):
    """Serves the files of `folder` under a few behaviours, chosen by the first path segment:

    /files/NAME      200 with an honest Content-Length, streamed in 1 MiB chunks
    /redirect/NAME   302 to /files/NAME
    /lying/NAME      the whole file, but a Content-Length 1000 bytes longer, then the connection closes
    /dropped/NAME    an honest Content-Length, 60 % of the body, then the connection closes
    /unsized/NAME    no Content-Length: the body ends when the connection closes
    /stalled/NAME    an honest Content-Length, half the body, then nothing for 3 s
    /status/CODE     an empty answer with that status (404 = an expired fal URL)
    """

    folder: Path
    chunk = 1024 * 1024

    def do_GET(self):
        kind, _, rest = self.path.lstrip("/").partition("/")
        if kind == "status":
            self.send_response(int(rest))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", f"/files/{rest}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = self.folder / rest
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4" if path.suffix == ".mp4" else "application/octet-stream")
        if kind == "lying":
            self.send_header("Content-Length", str(size + 1000))
        elif kind != "unsized":
            self.send_header("Content-Length", str(size))
        self.end_headers()
        limit = {"dropped": int(size * 0.6), "stalled": size // 2}.get(kind, size)
        self._send_file(path, limit)
        if kind == "stalled":
            self.wfile.flush()
            time.sleep(3)
        self.close_connection = True

    def _send_file(self, path: Path, limit: int) -> None:
        sent = 0
        with open(path, "rb") as file:
            while sent < limit:
                chunk = file.read(min(self.chunk, limit - sent))
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)

    def log_message(self, format, *args):  # quiet
        pass


class FakeCdn:
    def __init__(self, folder: Path) -> None:
        handler = type("Handler", (_CdnHandler,), {"folder": folder})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-cdn", daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"

    def url(self, path: Path | str, behaviour: str = "files") -> str:
        name = path.name if isinstance(path, Path) else path
        return f"{self.base_url}/{behaviour}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def cdn(media_files):
    server = FakeCdn(media_files.folder)
    yield server
    server.close()
