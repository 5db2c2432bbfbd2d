"""Archiving a fal video: download it, check it, and keep it (and a poster) in our storage.

fal's video URLs are public and expire after days, so every finished generation's mp4 is
copied into the configured storage (S3 in production, local files in the embedded mode).
This module does the I/O and knows nothing of models: the pipeline passes the URL, the
exact keys, and the duration it asked for, and records what comes back.

The video is never read whole into memory by this code: it streams from fal into a
temporary file in 1 MiB chunks (hashed on the way), is checked there, and is handed to the
storage as a file object. FileSystemStorage copies it in chunks; S3Storage uploads it in
8 MiB parts (multipart past 8 MiB), and how many parts boto3 holds in memory at once is set
by the storage's `transfer_config` (boto3's default: up to 10, i.e. 80 MiB).
"""

from __future__ import annotations

import functools
import glob
import hashlib
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO

import certifi
import httpx
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from . import media

logger = logging.getLogger(__name__)

DOWNLOAD_CHUNK_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
# Far above any real generation (12 s of 1080p H.264 is some tens of MB at most).
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
# The whole download; each connect and each read also has its own, shorter limit.
DEFAULT_TIMEOUT = 300.0
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0  # a stalled connection: nothing at all for this long
# How far the measured duration may be from the one asked for: fal's videos run a frame or
# so long (5 s at 24 fps is often 121 frames, 5.04 s). The check catches a wrong or cut video;
# it must not fail a good one, which would cost a paid generation, so it is lenient.
DURATION_TOLERANCE_SECONDS = 0.5
DURATION_TOLERANCE_FRACTION = 0.10

VIDEO_CONTENT_TYPE = "video/mp4"
POSTER_CONTENT_TYPE = "image/jpeg"


@dataclass(frozen=True)
class ArchivedVideo:
    video_name: str  # as the storage names it (what a FileField stores)
    poster_name: str
    size_bytes: int
    sha256: str
    facts: media.VideoFacts


class ArchiveError(Exception):
    """An archive that did not complete. What it wrote under its keys has been removed
    (best effort: when the storage itself is failing, the next attempt replaces it).

    code: a short machine word for the record ("download_failed", "truncated", ...).
    retryable: whether trying again later can help. Bad content (truncated, not_mp4,
    duration_mismatch, ...) is retryable too, because a fresh download may get a whole
    file; callers cap the number of attempts.
    """

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable

    def __reduce__(self):
        # Exceptions pickle as cls(*args); ours need all three values back.
        return (_rebuild_archive_error, (self.code, self.message, self.retryable))


def _rebuild_archive_error(code: str, message: str, retryable: bool) -> ArchiveError:
    return ArchiveError(code, message, retryable=retryable)


def archive_video(
    *,
    url: str,
    video_key: str,
    poster_key: str,
    expected_duration: float,
    storage: Storage | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    first_attempt: bool = False,
    url_allowed: Callable[[str], bool] | None = None,
) -> ArchivedVideo:
    """Download the mp4 at `url`, check it, and store it and a JPEG poster under exactly these keys.

    An object already under a key (from an earlier attempt) is replaced, so one object
    remains per key. `first_attempt` says there was no earlier attempt at these keys, which
    saves looking for its leftovers (three storage calls). Raises ArchiveError, with `code` and
    `retryable`, for every failure:

    - download_failed: the URL could not be fetched (network, timeout, HTTP error; an
      HTTP 4xx such as an expired URL is not retryable);
    - too_large: more than `max_bytes` (not retryable);
    - truncated: the body ended early, or the file's own index says bytes are missing;
    - not_mp4, no_video_stream, undecodable: the bytes are not a usable MP4 video;
    - duration_mismatch: the video is not about `expected_duration` seconds long;
    - storage_unavailable: the storage could not be reached or failed (retryable);
    - storage_rejected: the storage refused the write (e.g. access denied; not retryable);
    - storage_conflict: the storage kept the file under another name (retryable);
    - url_not_allowed: `url_allowed` refused the URL or a redirect's target (not retryable):
      nothing is fetched from a host it does not name.
    """
    storage = storage or default_storage
    started = time.monotonic()
    with _temporary_file(os.path.splitext(os.path.basename(video_key))[0]) as download:
        size_bytes, sha256 = _download(url, download, max_bytes=max_bytes, timeout=timeout, url_allowed=url_allowed)
        facts = _checked_facts(download.name, expected_duration)
        poster = _poster_jpeg(download.name)
        video_name, poster_name = _store(
            storage, download, poster, video_key=video_key, poster_key=poster_key, replace=not first_attempt
        )
    logger.info(
        "Archived %s (%s bytes, %.2f s %sx%s %s) and its poster in %.1f s",
        video_name,
        size_bytes,
        facts.duration,
        facts.width,
        facts.height,
        facts.codec,
        time.monotonic() - started,
    )
    return ArchivedVideo(
        video_name=video_name, poster_name=poster_name, size_bytes=size_bytes, sha256=sha256, facts=facts
    )


def duration_tolerance(expected_duration: float) -> float:
    return max(DURATION_TOLERANCE_SECONDS, DURATION_TOLERANCE_FRACTION * expected_duration)


# --- Download ---------------------------------------------------------------------------------


TEMPORARY_DIR = os.path.join(tempfile.gettempdir(), "seedance-archive")


@contextmanager
def _temporary_file(stem: str) -> Iterator[IO[bytes]]:
    """A temporary file named after the video, deleted when the block ends.

    A worker killed mid-download cannot delete its file; the next attempt at the same
    video removes it (only one archiver works on a video at a time: the lease)."""
    os.makedirs(TEMPORARY_DIR, exist_ok=True)
    for leftover in glob.glob(os.path.join(TEMPORARY_DIR, f"{glob.escape(stem)}-*")):
        with suppress(FileNotFoundError):
            os.remove(leftover)
    with tempfile.NamedTemporaryFile(prefix=f"{stem}-", suffix=".mp4", dir=TEMPORARY_DIR) as file:
        yield file


def _download(
    url: str,
    destination: IO[bytes],
    *,
    max_bytes: int,
    timeout: float,
    url_allowed: Callable[[str], bool] | None = None,
) -> tuple[int, str]:
    """Stream `url` into `destination`; returns (bytes written, SHA-256 hex)."""
    digest = hashlib.sha256()
    written = 0
    body_started = False
    deadline = time.monotonic() + timeout
    timeouts = httpx.Timeout(min(READ_TIMEOUT, timeout), connect=min(CONNECT_TIMEOUT, timeout))
    try:
        with _opened(url, timeouts, url_allowed) as response:
            _check_response(response, max_bytes=max_bytes)
            body_started = True
            for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                written += len(chunk)
                if written > max_bytes:
                    raise _too_large(max_bytes)
                if time.monotonic() > deadline:
                    raise ArchiveError(
                        "download_failed", f"The download took longer than {timeout:.0f} s; gave up.", retryable=True
                    )
                digest.update(chunk)
                destination.write(chunk)
            _check_complete_body(response)
    except httpx.RemoteProtocolError as exc:
        # h11 raises this when the connection closes before Content-Length bytes came.
        if body_started:
            raise ArchiveError("truncated", f"The download was cut off ({exc}).", retryable=True) from exc
        raise ArchiveError(
            "download_failed", f"The video server broke the connection ({exc}).", retryable=True
        ) from exc
    except httpx.HTTPError as exc:
        raise ArchiveError(
            "download_failed", f"The video could not be downloaded: {type(exc).__name__}: {exc}", retryable=True
        ) from exc
    if written == 0:
        raise ArchiveError("download_failed", "The video URL returned an empty body.", retryable=True)
    destination.flush()
    return written, digest.hexdigest()


@contextmanager
def _opened(url: str, timeouts: httpx.Timeout, url_allowed: Callable[[str], bool] | None) -> Iterator[httpx.Response]:
    """The streamed answer for `url`, following redirects one by one so each target is checked first."""
    client = _http_client(os.environ.get("SSL_CERT_FILE"))
    for _ in range(MAX_REDIRECTS + 1):
        if url_allowed is not None and not url_allowed(url):
            raise ArchiveError(
                "url_not_allowed",
                f"The video URL {url[:200]!r} is not on the hosts videos may come from; it was not fetched.",
                retryable=False,
            )
        response = client.send(client.build_request("GET", url, timeout=timeouts), stream=True, follow_redirects=False)
        if not response.is_redirect:
            break
        url = str(response.next_request.url)
        response.close()
    else:
        raise ArchiveError(
            "download_failed", f"The video URL redirected more than {MAX_REDIRECTS} times.", retryable=False
        )
    try:
        yield response
    finally:
        response.close()


@functools.lru_cache(maxsize=4)
def _http_client(ca_file: str | None) -> httpx.Client:
    """One client per process (and CA file), kept: loading a CA bundle costs ~50 ms of CPU and a
    TLS handshake ~10 ms, more than the rest of archiving a short video; a kept client pays
    both once and reuses its connections to fal's media host.

    SSL_CERT_FILE is trusted (as httpx would), so the fal simulator's local CA works too.
    identity: the bytes on the wire are the file, so Content-Length counts them."""
    return httpx.Client(
        follow_redirects=False,  # followed one by one in _opened, each target checked
        headers={"Accept-Encoding": "identity"},
        verify=ssl.create_default_context(cafile=ca_file or certifi.where()),
    )


def _check_response(response: httpx.Response, *, max_bytes: int) -> None:
    if response.status_code != 200:
        # 4xx is the URL's fault (fal's URLs expire): asking again will not help. 408 and
        # 429 are "later", and 5xx is the server's problem of the moment.
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        raise ArchiveError(
            "download_failed",
            f"The video URL answered HTTP {response.status_code} {response.reason_phrase}.",
            retryable=not permanent,
        )
    declared = _declared_length(response)
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes, declared=declared)


def _check_complete_body(response: httpx.Response) -> None:
    declared = _declared_length(response)
    received = response.num_bytes_downloaded  # on the wire, before any decoding
    if declared is not None and received != declared:
        raise ArchiveError("truncated", f"The download ended after {received:,} of {declared:,} bytes.", retryable=True)


def _declared_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _too_large(max_bytes: int, *, declared: int | None = None) -> ArchiveError:
    size = f" ({declared / 1e6:.0f} MB)" if declared else ""
    return ArchiveError(
        "too_large", f"The video is larger{size} than the {max_bytes / 1e6:.0f} MB allowed.", retryable=False
    )


# --- Checks -----------------------------------------------------------------------------------


def _checked_facts(path: str, expected_duration: float) -> media.VideoFacts:
    try:
        facts = media.probe_video(path)
    except media.InvalidVideo as exc:
        raise ArchiveError(exc.code, f"The downloaded file is not usable: {exc.reason}", retryable=True) from exc
    tolerance = duration_tolerance(expected_duration)
    if abs(facts.duration - expected_duration) > tolerance:
        raise ArchiveError(
            "duration_mismatch",
            f"The video lasts {facts.duration:.2f} s but {expected_duration:g} s were asked for "
            f"(± {tolerance:.2f} s accepted).",
            retryable=True,
        )
    return facts


def _poster_jpeg(path: str) -> bytes:
    try:
        return media.extract_poster(path)
    except media.InvalidVideo as exc:
        raise ArchiveError(exc.code, f"No poster could be made: {exc.reason}", retryable=True) from exc


# --- Storage ----------------------------------------------------------------------------------

# What a storage raises when it cannot do its job: S3 (botocore, boto3's transfer manager) or
# a local disk (OSError).
STORAGE_ERRORS = (BotoCoreError, ClientError, S3UploadFailedError, OSError)


def _store(
    storage: Storage, video: IO[bytes], poster: bytes, *, video_key: str, poster_key: str, replace: bool
) -> tuple[str, str]:
    """Write the video, then the poster; if either fails, remove whatever is under both keys and raise."""
    uploads = (
        (video_key, File(video, name=os.path.basename(video_key)), VIDEO_CONTENT_TYPE),
        (poster_key, ContentFile(poster, name=os.path.basename(poster_key)), POSTER_CONTENT_TYPE),
    )
    attempted: list[str] = []
    stored: list[str] = []
    try:
        for key, content, content_type in uploads:
            attempted.append(key)
            stored.append(_save_exactly(storage, key, content, content_type, replace=replace))
    except ArchiveError:
        _remove_quietly(storage, attempted)
        raise
    except STORAGE_ERRORS as exc:
        # A video without its poster would be an orphan that no row points to.
        _remove_quietly(storage, attempted)
        raise _storage_error(exc) from exc
    video_name, poster_name = stored
    return video_name, poster_name


def _save_exactly(storage: Storage, key: str, content: File, content_type: str, *, replace: bool) -> str:
    """Save `content` under exactly `key`; with `replace`, first remove what an earlier attempt left there."""
    if replace:
        # With file_overwrite=False (our settings) a storage saves beside an existing object
        # under a new random name; deleting first keeps one object under the exact key.
        storage.delete(key)
        _abort_unfinished_uploads(storage, key)
    # S3Storage takes the ContentType from this attribute before guessing from the name.
    content.content_type = content_type
    # A File over the open temporary file, never bytes: FileSystemStorage copies it in chunks
    # and S3Storage uploads it in parts (upload_fileobj; see the module docstring on memory).
    name = storage.save(key, content)
    if name != key:
        # Another writer created the key between our delete and save.
        _remove_quietly(storage, [name])
        raise ArchiveError(
            "storage_conflict", f"The storage kept the file as {name!r}, not {key!r}; another writer?", retryable=True
        )
    return name


def _abort_unfinished_uploads(storage: Storage, key: str) -> None:
    """Abort S3 multipart uploads to `key` left unfinished by an earlier attempt.

    A worker killed halfway through an upload leaves its parts in the bucket: invisible,
    but kept (and billed) until aborted. Only one archiver works on a key at a time (the
    lease), so any unfinished upload to it is a dead one."""
    if not isinstance(storage, S3Storage):
        return
    name = storage._normalize_name(clean_name(key))
    client = storage.connection.meta.client
    listing = client.list_multipart_uploads(Bucket=storage.bucket_name, Prefix=name)
    for upload in listing.get("Uploads", []):
        if upload["Key"] == name:
            logger.info("Aborting an unfinished upload of %s left by an earlier attempt", name)
            client.abort_multipart_upload(Bucket=storage.bucket_name, Key=name, UploadId=upload["UploadId"])


def _remove_quietly(storage: Storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except STORAGE_ERRORS:
            # The storage is failing already (that is why we are here); the next attempt
            # replaces whatever is left under these keys.
            logger.warning("Could not remove %s after a failed archive", name, exc_info=True)


def _storage_error(exc: Exception) -> ArchiveError:
    status = _http_status(exc)
    if status is not None and 400 <= status < 500:
        return ArchiveError(
            "storage_rejected", f"The storage refused the write (HTTP {status}): {exc}", retryable=False
        )
    return ArchiveError(
        "storage_unavailable", f"The storage is unavailable: {type(exc).__name__}: {exc}", retryable=True
    )


def _http_status(exc: Exception) -> int | None:
    # boto3's transfer manager wraps the ClientError it got; look through the chain.
    while exc is not None:
        if isinstance(exc, ClientError):
            return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        exc = exc.__cause__ or exc.__context__
    return None
