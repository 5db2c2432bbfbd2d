"""generations.archive end to end: a local "fal CDN" over HTTP(S), real MP4s, a real S3 server."""

from __future__ import annotations

import gc
import hashlib
import io
import pickle
import socket
import ssl
import time
import tracemalloc
from pathlib import Path

import pytest
import trustme
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import EndpointConnectionError
from django.core.files.storage import default_storage
from PIL import Image
from storages.backends.s3 import S3Storage

from generations import archive
from generations.archive import ArchiveError, archive_video
from generations.media import InvalidVideo
from tests.archive.conftest import FakeCdn

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _temporary_files_in(tmp_path, monkeypatch):
    """Downloads go to a folder of this test's, so a test can see that none is left behind."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    monkeypatch.setattr(archive, "TEMPORARY_DIR", str(folder))
    return folder


def s3_objects(s3_server, keys) -> dict[str, dict]:
    """What the bucket holds under the folder of `keys`: {key: head_object()}."""
    client = s3_server.client()
    folder = keys[0].rsplit("/", 1)[0] + "/"
    code = keys[0].rsplit("/", 1)[1].removesuffix(".mp4")
    return {
        key: client.head_object(Bucket=s3_server.bucket, Key=key)
        for key in s3_server.object_keys(folder)
        if code in key
    }


def s3_bytes(s3_server, key: str) -> bytes:
    return s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()


# --- The happy path, on S3 ---------------------------------------------------------------------


def test_it_archives_a_video_and_its_poster_into_s3(
    s3_settings, s3_server, cdn, media_files, keys, _temporary_files_in
):
    video_key, poster_key = keys
    source = media_files.good_5s.read_bytes()

    archived = archive_video(
        url=cdn.url(media_files.good_5s), video_key=video_key, poster_key=poster_key, expected_duration=5
    )

    assert (archived.video_name, archived.poster_name) == keys
    assert archived.size_bytes == len(source)
    assert archived.sha256 == hashlib.sha256(source).hexdigest()
    assert (archived.facts.duration, archived.facts.width, archived.facts.height) == (5.0, 854, 480)
    assert (archived.facts.fps, archived.facts.codec, archived.facts.container) == (24.0, "h264", "mp4")

    stored = s3_objects(s3_server, keys)
    assert set(stored) == {video_key, poster_key}
    assert stored[video_key]["ContentType"] == "video/mp4"
    assert stored[video_key]["ContentLength"] == len(source)
    assert stored[poster_key]["ContentType"] == "image/jpeg"
    assert s3_bytes(s3_server, video_key) == source
    poster = Image.open(io.BytesIO(s3_bytes(s3_server, poster_key)))
    poster.load()
    assert (poster.format, poster.size) == ("JPEG", (854, 480))
    # The stored names are what a FileField keeps: the storage opens them again.
    assert default_storage.size(archived.video_name) == len(source)
    assert list(_temporary_files_in.iterdir()) == []


def test_it_follows_redirects_and_reads_bodies_without_a_length(s3_settings, s3_server, cdn, media_files, keys):
    for behaviour in ("redirect", "unsized"):
        archived = archive_video(
            url=cdn.url(media_files.good_2s, behaviour), video_key=keys[0], poster_key=keys[1], expected_duration=2
        )
        assert archived.sha256 == hashlib.sha256(media_files.good_2s.read_bytes()).hexdigest(), behaviour


def test_a_redirect_is_followed_only_to_an_allowed_host(s3_settings, s3_server, cdn, media_files, keys):
    """fal's video URL, and every redirect from it, must be on fal's media hosts (issue 11)."""
    redirect = cdn.url(media_files.good_2s, "redirect")
    allowed = [redirect]  # the first URL only, not the /files/ target it redirects to
    with pytest.raises(ArchiveError) as caught:
        archive_video(
            url=redirect, video_key=keys[0], poster_key=keys[1], expected_duration=2, url_allowed=allowed.__contains__
        )
    assert caught.value.code == "url_not_allowed" and not caught.value.retryable
    assert "/files/" in str(caught.value)
    assert not default_storage.exists(keys[0])
    with pytest.raises(ArchiveError, match="not on the hosts") as caught:
        archive_video(
            url=redirect, video_key=keys[0], poster_key=keys[1], expected_duration=2, url_allowed=lambda u: False
        )
    # Allowed all the way: archived as before.
    archived = archive_video(
        url=redirect,
        video_key=keys[0],
        poster_key=keys[1],
        expected_duration=2,
        url_allowed=lambda u: u.startswith(cdn.base_url),
    )
    assert archived.size_bytes == media_files.good_2s.stat().st_size


def test_a_retried_archive_replaces_the_objects_under_the_same_keys(s3_settings, s3_server, cdn, media_files, keys):
    archive_video(url=cdn.url(media_files.good_5s), video_key=keys[0], poster_key=keys[1], expected_duration=5)

    again = archive_video(url=cdn.url(media_files.good_2s), video_key=keys[0], poster_key=keys[1], expected_duration=2)

    assert (again.video_name, again.poster_name) == keys
    assert set(s3_objects(s3_server, keys)) == set(keys)  # no "..._AbCdEfG.mp4" beside them
    assert s3_bytes(s3_server, keys[0]) == media_files.good_2s.read_bytes()


def test_an_unfinished_multipart_upload_of_a_dead_attempt_is_aborted(s3_settings, s3_server, cdn, media_files, keys):
    # A worker killed inside a multipart upload leaves parts that S3 keeps (and bills)
    # until aborted; the next archive of the same key aborts them.
    client = s3_server.client()
    upload = client.create_multipart_upload(Bucket=s3_server.bucket, Key=keys[0])
    client.upload_part(
        Bucket=s3_server.bucket, Key=keys[0], UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024
    )
    assert client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=keys[0]).get("Uploads")

    archive_video(url=cdn.url(media_files.good_2s), video_key=keys[0], poster_key=keys[1], expected_duration=2)

    assert client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=keys[0]).get("Uploads", []) == []
    assert set(s3_objects(s3_server, keys)) == set(keys)


def test_a_first_attempt_skips_the_leftover_search_and_a_surprise_leftover_is_a_retryable_conflict(
    s3_settings, s3_server, cdn, media_files, keys
):
    # The pipeline says "first attempt" when no earlier attempt wrote under these keys; if an
    # object is there anyway, nothing is saved beside it under another name, and the retry succeeds.
    s3_server.client().put_object(Bucket=s3_server.bucket, Key=keys[0], Body=b"not ours")
    with pytest.raises(ArchiveError) as failure:
        archive_video(
            url=cdn.url(media_files.good_2s),
            video_key=keys[0],
            poster_key=keys[1],
            expected_duration=2,
            first_attempt=True,
        )
    assert failure.value.code == "storage_conflict" and failure.value.retryable
    assert set(s3_objects(s3_server, keys)) == set()  # the keys are the generation's: cleared for the retry

    archive_video(url=cdn.url(media_files.good_2s), video_key=keys[0], poster_key=keys[1], expected_duration=2)
    assert s3_bytes(s3_server, keys[0]) == media_files.good_2s.read_bytes()


def test_a_killed_attempt_s_temporary_file_is_removed_by_the_next(
    s3_settings, cdn, media_files, keys, _temporary_files_in
):
    code = keys[0].rsplit("/", 1)[1].removesuffix(".mp4")
    leftover = _temporary_files_in / f"{code}-dead.mp4"
    leftover.write_bytes(b"half a video")
    other = _temporary_files_in / "another-video-dead.mp4"
    other.write_bytes(b"someone else's")

    archive_video(url=cdn.url(media_files.good_2s), video_key=keys[0], poster_key=keys[1], expected_duration=2)

    assert sorted(p.name for p in _temporary_files_in.iterdir()) == [other.name]


def test_names_stay_relative_to_the_storage_location(settings, s3_server, cdn, media_files, keys):
    settings.STORAGES = {**settings.STORAGES, "default": s3_server.storages_settings(location="team-a")}

    archived = archive_video(
        url=cdn.url(media_files.good_2s), video_key=keys[0], poster_key=keys[1], expected_duration=2
    )

    assert (archived.video_name, archived.poster_name) == keys
    assert set(s3_server.object_keys(f"team-a/{keys[0].rsplit('/', 1)[0]}")) >= {
        f"team-a/{keys[0]}",
        f"team-a/{keys[1]}",
    }


def test_it_downloads_over_https_trusting_ssl_cert_file(
    s3_settings, s3_server, media_files, keys, tmp_path, monkeypatch
):
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    https_cdn = FakeCdn(media_files.folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    https_cdn.server.socket = context.wrap_socket(https_cdn.server.socket, server_side=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # as the fal simulator's clients are set up
    try:
        url = https_cdn.url(media_files.good_2s).replace("http://", "https://")
        archived = archive_video(url=url, video_key=keys[0], poster_key=keys[1], expected_duration=2)
    finally:
        https_cdn.close()

    assert archived.size_bytes == media_files.good_2s.stat().st_size


# --- Bad downloads and bad content leave nothing behind ----------------------------------------


@pytest.mark.parametrize(
    ("file", "behaviour", "expected_duration", "code"),
    [
        ("truncated_5s", "files", 5, "truncated"),  # the CDN served a cut file, honestly sized
        ("good_5s", "dropped", 5, "truncated"),  # the connection dropped mid-body
        ("good_5s", "lying", 5, "truncated"),  # fewer bytes than Content-Length says
        ("truncated_moov", "files", 2, "truncated"),
        ("text", "files", 5, "not_mp4"),  # an error page served with a 200
        ("png", "files", 5, "not_mp4"),
        ("quicktime", "files", 1, "not_mp4"),
        ("audio_only", "files", 1, "no_video_stream"),
        ("garbled", "files", 5, "undecodable"),
        ("good_2s", "files", 5, "duration_mismatch"),
        ("good_5s", "files", 2, "duration_mismatch"),
    ],
)
def test_bad_content_is_refused_and_nothing_is_stored(
    s3_settings, s3_server, cdn, media_files, keys, _temporary_files_in, file, behaviour, expected_duration, code
):
    url = cdn.url(getattr(media_files, file), behaviour)

    with pytest.raises(ArchiveError) as caught:
        archive_video(url=url, video_key=keys[0], poster_key=keys[1], expected_duration=expected_duration)

    assert caught.value.code == code
    assert caught.value.retryable  # a fresh download may be whole; the caller caps the attempts
    assert str(caught.value)
    assert s3_objects(s3_server, keys) == {}
    assert list(_temporary_files_in.iterdir()) == []


def test_the_duration_tolerance_is_half_a_second_or_ten_percent(s3_settings, cdn, media_files, keys):
    assert archive.duration_tolerance(2) == 0.5
    assert archive.duration_tolerance(10) == pytest.approx(1.0)
    # 5.0 s measured: 5.4 asked is within 0.54 s; 5.6 is not.
    archive_video(url=cdn.url(media_files.good_5s), video_key=keys[0], poster_key=keys[1], expected_duration=5.4)
    with pytest.raises(ArchiveError, match=r"lasts 5\.00 s but 5\.6 s were asked for"):
        archive_video(url=cdn.url(media_files.good_5s), video_key=keys[0], poster_key=keys[1], expected_duration=5.6)


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (403, False), (410, False), (429, True), (503, True)])
def test_http_errors_say_whether_to_retry(s3_settings, s3_server, cdn, keys, status, retryable):
    with pytest.raises(ArchiveError) as caught:
        archive_video(url=cdn.url(str(status), "status"), video_key=keys[0], poster_key=keys[1], expected_duration=5)

    assert caught.value.code == "download_failed"
    assert caught.value.retryable is retryable
    assert f"HTTP {status}" in str(caught.value)
    assert s3_objects(s3_server, keys) == {}


def test_an_unreachable_video_url_is_retryable(s3_settings, keys):
    with pytest.raises(ArchiveError) as caught:
        archive_video(
            url=f"http://127.0.0.1:{_closed_port()}/v.mp4", video_key=keys[0], poster_key=keys[1], expected_duration=5
        )

    assert (caught.value.code, caught.value.retryable) == ("download_failed", True)
    assert "ConnectError" in str(caught.value)


def test_a_stalled_download_times_out(s3_settings, s3_server, cdn, media_files, keys):
    started = time.monotonic()
    with pytest.raises(ArchiveError) as caught:
        archive_video(
            url=cdn.url(media_files.good_5s, "stalled"),
            video_key=keys[0],
            poster_key=keys[1],
            expected_duration=5,
            timeout=0.5,
        )

    assert (caught.value.code, caught.value.retryable) == ("download_failed", True)
    assert "ReadTimeout" in str(caught.value)
    assert time.monotonic() - started < 2.5
    assert s3_objects(s3_server, keys) == {}


def test_archive_errors_survive_pickling():
    error = pickle.loads(pickle.dumps(ArchiveError("truncated", "Cut off.", retryable=True)))
    invalid = pickle.loads(pickle.dumps(InvalidVideo("not_mp4", "Not a video.")))

    assert (error.code, error.message, error.retryable, str(error)) == ("truncated", "Cut off.", True, "Cut off.")
    assert (invalid.code, invalid.reason) == ("not_mp4", "Not a video.")


@pytest.mark.parametrize("behaviour", ["files", "unsized"])  # refused from Content-Length, or while streaming
def test_a_video_over_max_bytes_is_refused(s3_settings, s3_server, cdn, media_files, keys, behaviour):
    with pytest.raises(ArchiveError) as caught:
        archive_video(
            url=cdn.url(media_files.good_5s, behaviour),
            video_key=keys[0],
            poster_key=keys[1],
            expected_duration=5,
            max_bytes=10_000,
        )

    assert (caught.value.code, caught.value.retryable) == ("too_large", False)
    assert s3_objects(s3_server, keys) == {}


# --- Storage failures --------------------------------------------------------------------------


def test_an_s3_outage_is_retryable_and_leaves_nothing_then_the_retry_succeeds(
    s3_settings, s3_server, cdn, media_files, keys, _temporary_files_in
):
    url = cdn.url(media_files.good_5s)
    s3_server.stop()
    try:
        with pytest.raises(ArchiveError) as caught:
            archive_video(url=url, video_key=keys[0], poster_key=keys[1], expected_duration=5)
    finally:
        s3_server.start()

    assert (caught.value.code, caught.value.retryable) == ("storage_unavailable", True)
    assert list(_temporary_files_in.iterdir()) == []
    assert s3_objects(s3_server, keys) == {}

    archived = archive_video(url=url, video_key=keys[0], poster_key=keys[1], expected_duration=5)

    assert archived.video_name == keys[0]
    assert set(s3_objects(s3_server, keys)) == set(keys)


class PosterFailingStorage(S3Storage):
    """S3 that accepts the video and then fails on the poster, like a connection lost in between."""

    def _save(self, name, content):
        if name.endswith(".jpg"):
            raise EndpointConnectionError(endpoint_url=self.endpoint_url)
        return super()._save(name, content)


def test_a_failed_poster_upload_removes_the_video_too(s3_server, cdn, media_files, keys):
    storage = PosterFailingStorage(**s3_server.storages_settings()["OPTIONS"])

    with pytest.raises(ArchiveError) as caught:
        archive_video(
            url=cdn.url(media_files.good_5s),
            video_key=keys[0],
            poster_key=keys[1],
            expected_duration=5,
            storage=storage,
        )

    assert (caught.value.code, caught.value.retryable) == ("storage_unavailable", True)
    assert s3_objects(s3_server, keys) == {}


def test_a_refused_write_is_not_retryable(s3_server, cdn, media_files, keys):
    options = {**s3_server.storages_settings()["OPTIONS"], "secret_key": "not-the-secret"}

    with pytest.raises(ArchiveError) as caught:
        archive_video(
            url=cdn.url(media_files.good_2s),
            video_key=keys[0],
            poster_key=keys[1],
            expected_duration=2,
            storage=S3Storage(**options),
        )

    assert (caught.value.code, caught.value.retryable) == ("storage_rejected", False)
    assert "HTTP 403" in str(caught.value)
    assert s3_objects(s3_server, keys) == {}


# --- Local files (the embedded mode) -----------------------------------------------------------


def test_it_archives_into_the_file_system_storage(settings, cdn, media_files, keys):
    # tests/conftest.py points the default storage at a fresh folder for each test.
    assert settings.STORAGES["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"

    archive_video(url=cdn.url(media_files.good_5s), video_key=keys[0], poster_key=keys[1], expected_duration=5)
    archived = archive_video(
        url=cdn.url(media_files.good_2s), video_key=keys[0], poster_key=keys[1], expected_duration=2
    )

    root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    assert (archived.video_name, archived.poster_name) == keys
    assert (root / keys[0]).read_bytes() == media_files.good_2s.read_bytes()
    assert Image.open(root / keys[1]).format == "JPEG"
    assert sorted(path.name for path in (root / keys[0]).parent.iterdir()) == sorted(Path(key).name for key in keys)


# --- Large videos: streamed in, multipart out --------------------------------------------------


def test_a_large_video_streams_through_with_bounded_memory(settings, s3_server, cdn, big_video, keys):
    """~64 MB through download, probe, poster and a multipart upload, with far less in Python's heap.

    The upload's memory is set by the storage's TransferConfig, not by this code: boto3's
    default keeps up to 10 parts of 8 MiB in memory (measured here: a ~71 MB peak for the
    upload of this file, ~85 MB for the whole archive), so this test uses the bounded
    configuration recommended for the production settings (2 parts in memory, 2 threads).
    """
    transfer_config = TransferConfig(max_concurrency=2, multipart_chunksize=8 * MiB)
    transfer_config.max_in_memory_upload_chunks = 2
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_server.storages_settings(transfer_config=transfer_config),
    }
    default_storage.exists("warm-up")  # boto3 loads its S3 model (~10 MB) once per process
    size = big_video.stat().st_size
    gc.collect()

    tracemalloc.start()
    try:
        archived = archive_video(url=cdn.url(big_video), video_key=keys[0], poster_key=keys[1], expected_duration=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert archived.size_bytes == size > 60 * MiB
    head = s3_objects(s3_server, keys)[keys[0]]
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').endswith(f"-{-(-size // (8 * MiB))}")  # a multipart upload's ETag: md5-<parts>
    assert peak < size / 2, f"peak {peak / MiB:.1f} MiB for a {size / MiB:.1f} MiB video"


def test_the_download_itself_holds_one_chunk_at_a_time(cdn, big_video, tmp_path):
    tracemalloc.start()
    try:
        with open(tmp_path / "copy.mp4", "wb") as destination:
            size, sha256 = archive._download(cdn.url(big_video), destination, max_bytes=1 << 30, timeout=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert size == big_video.stat().st_size
    assert sha256 == hashlib.sha256(big_video.read_bytes()).hexdigest()
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
