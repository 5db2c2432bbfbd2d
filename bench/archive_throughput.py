"""Archive throughput and worker memory: the app's archive against a plain boto3 copy (issue 7, measurement 2).

    .venv/bin/python bench/archive_throughput.py [--throughput-size 200] [--repeat 3] [--sizes 20,200,1000]

Starts its own services: SeaweedFS (tests/s3_server.S3Server, S3 on loopback) and the fal
simulator (fal_simulator.server.FalSimulator, HTTPS on loopback, in this process). The test
videos are valid MP4s (1920x1080 lossless-noise H.264 keyframes at 24 fps, made with
tests/archive/videos.make_big_intra_mp4) cached under var/bench/videos/; each is published
in the simulator's file store (its Python API, FileStore.put_file) and downloaded over the
simulator's HTTPS server, as a fal video URL is.

Every copy runs in a fresh child process (this script with --child), so each one's peak
RSS (VmHWM) is its own and nothing is warm from an earlier run:

  ours   generations.archive.archive_video(...) with Django's default storage built by
         seedance_studio.settings from the S3 server's env (S3Server.env()), i.e. production's
         S3Storage with the app's TransferConfig, and max_bytes=settings.ARCHIVE_MAX_BYTES as
         the pipeline passes. Download (1 MiB chunks, SHA-256), probe, poster, upload of video
         and poster, and the app's delete/abort-unfinished-upload calls before each upload.
  plain  what a hand-written script does: httpx.stream("GET", url) (default chunking) into a
         tempfile, then boto3 client.upload_file(tempfile, bucket, key) with boto3's default
         TransferConfig (8 MiB parts, 10 threads). No hash, no checks, no poster.

Both time download + upload, from the first request to the last byte stored, in the child,
after its imports and after its S3 client exists (a worker's is long-lived). Throughput is
video bytes / that time, in MB/s (MB = 10^6 bytes). Throughput runs alternate plain/ours
(ABBA...) and report the median; the ratio is median(ours) / median(plain).

Raw output: bench/results/archive_throughput-<YYYYMMDD-HHMM>.txt
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from _media_bench import (
    DEFAULT_RESULTS_DIR,
    DEFAULT_VAR_DIR,
    ROOT,
    Report,
    busy_note,
    child_base_env,
    load_average,
    machine_lines,
    median,
    package_versions,
    setup_django,
)

MB = 1_000_000
VIDEO_WIDTH, VIDEO_HEIGHT = 1920, 1080
FPS = 24
CHILD_TIMEOUT = 900  # seconds; a 1 GB copy takes well under a minute on loopback
RESULT_PREFIX = "RESULT "
RSS_TARGET_MB = 150
FLAT_FRACTION = 0.10  # "flat": the largest video's peak within 10% of the smallest's
RENDER_IMAGE = "generations/demo/hubble_deep_field.jpg"


# --- Child: one copy in a fresh process -----------------------------------------------------------


def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB (10^6 bytes), from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount, _unit = line.split()
                values[name] = int(amount) * 1024 / MB
    return values.get("VmRSS:", float("nan")), values.get("VmHWM:", float("nan"))


def _peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM, not ru_maxrss.

    Linux carries ru_maxrss across exec (it keeps the larger of the parent's peak at fork
    and the child's own), so a child of this 170 MB parent would report at least 170 MB.
    VmHWM belongs to the process image, so it starts again at exec."""
    return _rss_mb()[1]


def _ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB  # Linux: KiB


def _upload_from_path_instead() -> None:
    """What-if (not the app's code): S3Storage uploads a file that has a path with boto3's upload_file.

    s3transfer's upload_fileobj (what S3Storage._save calls) reads every part of a file
    object into memory (8 MiB each, up to 2 + 1 read ahead with the app's TransferConfig);
    upload_file(path) reads each part from disk as it is sent. Names, parameters and
    TransferConfig are S3Storage's own; only the upload call differs."""
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name

    original_save = S3Storage._save

    def _save(self, name, content):
        path = getattr(getattr(content, "file", None), "name", None)
        if not isinstance(path, str) or not os.path.isfile(path):
            return original_save(self, name, content)
        cleaned_name = clean_name(name)
        name = self._normalize_name(cleaned_name)
        params = self._get_write_parameters(name, content)
        self.bucket.Object(name).upload_file(path, ExtraArgs=params, Config=self.transfer_config)
        return cleaned_name

    S3Storage._save = _save


def child_ours(url: str, key: str, duration: float, var_dir: str, *, upload_from_path: bool = False) -> dict:
    setup_django(var_dir)
    from django.conf import settings
    from django.core.files.storage import default_storage

    from generations import archive

    if upload_from_path:
        _upload_from_path_instead()

    storage = default_storage
    storage.connection  # noqa: B018 - the boto3 resource, created once per worker thread
    config = storage.transfer_config
    baseline_rss, baseline_peak = _rss_mb()

    phases: dict[str, float] = {}
    peaks: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = time.perf_counter() - started
                peaks[name] = _rss_mb()[1]

        return wrapper

    # archive_video looks these up as module globals at call time, so wrapping them times its phases.
    archive._download = timed("download", archive._download)
    archive._checked_facts = timed("probe", archive._checked_facts)
    archive._poster_jpeg = timed("poster", archive._poster_jpeg)
    archive._store = timed("upload", archive._store)

    # As the pipeline calls it on a generation's first attempt (fresh keys), where the app supports that.
    first_attempt = "first_attempt" in inspect.signature(archive.archive_video).parameters
    options = {"first_attempt": True} if first_attempt else {}
    started = time.perf_counter()
    result = archive.archive_video(
        url=url,
        video_key=f"{key}.mp4",
        poster_key=f"{key}.jpg",
        expected_duration=duration,
        max_bytes=settings.ARCHIVE_MAX_BYTES,
        **options,
    )
    total = time.perf_counter() - started
    return {
        "kind": "ours-path-upload" if upload_from_path else "ours",
        "seconds": total,
        "phases": phases,
        "peak_after_phase_mb": peaks,
        "size_bytes": result.size_bytes,
        "sha256": result.sha256,
        "video_name": result.video_name,
        "poster_name": result.poster_name,
        "baseline_rss_mb": baseline_rss,
        "baseline_peak_mb": baseline_peak,
        "peak_rss_mb": _peak_rss_mb(),
        "ru_maxrss_mb": _ru_maxrss_mb(),
        "transfer_config": {
            "multipart_chunksize": config.multipart_chunksize if config else None,
            "max_concurrency": config.max_concurrency if config else None,
            "max_in_memory_upload_chunks": config.max_in_memory_upload_chunks if config else None,
        },
        "storage": type(storage).__module__ + "." + type(storage).__name__,
        "first_attempt": first_attempt,
    }


def child_plain(url: str, key: str) -> dict:
    import tempfile

    import boto3
    import httpx
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"],
        region_name=os.environ["AWS_S3_REGION_NAME"],
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    bucket = os.environ["AWS_STORAGE_BUCKET_NAME"]
    baseline_rss, baseline_peak = _rss_mb()
    started = time.perf_counter()
    size = 0
    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
        with httpx.stream("GET", url, follow_redirects=True) as response:  # trusts SSL_CERT_FILE
            response.raise_for_status()
            for chunk in response.iter_bytes():
                file.write(chunk)
                size += len(chunk)
        file.flush()
        downloaded = time.perf_counter()
        peak_after_download = _rss_mb()[1]
        client.upload_file(file.name, bucket, f"{key}.mp4")  # boto3's default TransferConfig
    finished = time.perf_counter()
    return {
        "kind": "plain",
        "seconds": finished - started,
        "phases": {"download": downloaded - started, "upload": finished - downloaded},
        "peak_after_phase_mb": {"download": peak_after_download, "upload": _rss_mb()[1]},
        "size_bytes": size,
        "baseline_rss_mb": baseline_rss,
        "baseline_peak_mb": baseline_peak,
        "peak_rss_mb": _peak_rss_mb(),
        "ru_maxrss_mb": _ru_maxrss_mb(),
    }


def run_child(args: argparse.Namespace) -> int:
    if args.child in ("ours", "ours-path-upload"):
        upload_from_path = args.child == "ours-path-upload"
        result = child_ours(args.url, args.key, args.duration, args.var_dir, upload_from_path=upload_from_path)
    else:
        result = child_plain(args.url, args.key)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# --- Parent: videos, services, runs ---------------------------------------------------------------


def make_video(size_mb: int, folder: Path, report: Report) -> tuple[Path, float]:
    """A valid 1080p MP4 of about `size_mb` MB and its real duration, cached in `folder`."""
    from tests.archive import videos

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"intra-{VIDEO_WIDTH}x{VIDEO_HEIGHT}-{size_mb}MB.mp4"
    if not path.exists():
        started = time.monotonic()
        # Lossless noise is incompressible, so its bytes per frame are steady: measure them on six frames.
        probe = folder / f".calibrate-{uuid.uuid4().hex}.mp4"
        try:
            videos.make_big_intra_mp4(probe, seconds=6 / FPS, width=VIDEO_WIDTH, height=VIDEO_HEIGHT)
            per_frame = probe.stat().st_size / 6
        finally:
            probe.unlink(missing_ok=True)
        frames = max(2, round(size_mb * MB / per_frame))
        partial = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            videos.make_big_intra_mp4(partial, seconds=frames / FPS, width=VIDEO_WIDTH, height=VIDEO_HEIGHT)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        report.line(f"  made {path.name} ({path.stat().st_size / MB:.1f} MB) in {time.monotonic() - started:.1f} s")
    return path, _duration_of(path)


def render_video(seconds: int, var_dir: str) -> tuple[Path, float]:
    """The simulator's real render (1080p 16:9 H.264, what the model returns), cached in var/bench/renders."""
    from fal_simulator.render import Renderer

    image = (ROOT / RENDER_IMAGE).read_bytes()
    result = Renderer(Path(var_dir) / "renders").render(
        image, resolution="1080p", aspect_ratio="16:9", num_frames=seconds * FPS, camera_fixed=False
    )
    return result.path, _duration_of(result.path)


def _duration_of(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.duration * stream.time_base)


def warm_page_cache(path: Path) -> None:
    """Read the file once so the first timed download does not pay for the disk and later ones do not save it."""
    with open(path, "rb") as file:
        while file.read(8 * 1024 * 1024):
            pass


def run_copy(kind: str, url: str, duration: float, env: dict[str, str], var_dir: str) -> dict:
    key = f"bench/{kind}-{uuid.uuid4().hex[:12]}"
    command = [sys.executable, __file__, "--child", kind, "--url", url, "--key", key, "--var-dir", var_dir]
    command += ["--duration", repr(duration)]
    completed = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"the {kind} copy failed (exit {completed.returncode}):\n"
            f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"
        )
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["key"] = key
    return result


def verify_and_clean(s3, result: dict, expected_size: int, expected_sha: str | None) -> None:
    """The object is in the bucket with every byte; then it is deleted, so the server does not fill up."""
    client = s3.client()
    video_key = f"{result['key']}.mp4"
    head = client.head_object(Bucket=s3.bucket, Key=video_key)
    if head["ContentLength"] != expected_size or result["size_bytes"] != expected_size:
        raise RuntimeError(f"{video_key}: stored {head['ContentLength']} bytes, expected {expected_size}")
    if expected_sha and result.get("sha256") not in (None, expected_sha):
        raise RuntimeError(f"{video_key}: SHA-256 {result['sha256']} differs from the source's")
    for key in s3.object_keys(prefix=result["key"]):
        client.delete_object(Bucket=s3.bucket, Key=key)


def sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def mbps(size_bytes: int, seconds: float) -> float:
    return size_bytes / MB / seconds


def run_benchmark(args: argparse.Namespace) -> int:
    from fal_simulator.server import FalSimulator
    from tests.s3_server import S3Server

    var_dir = args.var_dir
    throughput_size = args.throughput_size
    rss_sizes = args.sizes
    with Report("archive_throughput", args.output_dir) as report:
        report.line("Archive throughput and worker memory (issue 7, measurement 2)")
        start_note = busy_note()
        for line in machine_lines():
            report.line(line)
        if start_note:
            report.line(start_note)
        report.line("versions: " + package_versions("Django", "django-storages", "boto3", "s3transfer", "httpx", "av"))
        report.line(
            f"command: {Path(sys.executable).name} bench/archive_throughput.py --throughput-size {throughput_size} "
            f"--repeat {args.repeat} --sizes {','.join(map(str, rss_sizes))}"
        )
        report.line()
        report.line("Videos (valid MP4: 1920x1080 lossless-noise H.264 keyframes, 24 fps; cached in var/bench/videos):")
        videos: dict[int, tuple[Path, float]] = {}
        for size in sorted({throughput_size, *rss_sizes}):
            path, duration = make_video(size, Path(var_dir) / "videos", report)
            videos[size] = (path, duration)
            report.line(f"  {size:>5} MB: {path.stat().st_size:>13,} bytes, {duration:.3f} s  {path.name}")
        render = None
        if args.render_seconds:
            render = render_video(args.render_seconds, var_dir)
            report.line(
                f"  and the simulator's real render, 1080p 16:9 {args.render_seconds} s H.264 from {RENDER_IMAGE}: "
                f"{render[0].stat().st_size:,} bytes  (what the model returns; var/bench/renders)"
            )

        sim = FalSimulator(port=0, state_dir=Path(var_dir) / "fal-simulator", write_client_env=False)
        published: list[Path] = []
        with S3Server(bucket="seedance-bench") as s3:
            sim.start()
            try:
                env = {
                    **child_base_env(var_dir),
                    **s3.env(),
                    "SSL_CERT_FILE": str(sim.ca_bundle_file),  # what fal_gateway.configure_process() sets
                }
                urls: dict[int, str] = {}
                sources = {**videos, **({"render": render} if render else {})}
                for label, (path, _duration) in sources.items():
                    rel = sim.files.put_file(path, file_name=path.name, content_type="video/mp4", kind="video")
                    published.append(sim.files.root / rel.split("/")[0])
                    urls[label] = sim.file_url(rel)
                report.line(
                    f"Services: SeaweedFS S3 at {s3.endpoint_url} (weed mini, loopback); "
                    f"fal simulator at {sim.base_url} (HTTPS, in this process, idle while a child copies)"
                )
                report.line()
                _throughput(report, args, s3, env, videos, urls)
                report.line()
                _memory(report, args, s3, env, sources, urls)
            finally:
                sim.stop()
                for directory in published:
                    shutil.rmtree(directory, ignore_errors=True)
        report.line()
        report.line(f"load at the end: {load_average()}")
        if start_note:
            report.line(start_note)
    return 0


def _throughput(report, args, s3, env, videos, urls) -> None:
    size = args.throughput_size
    path, duration = videos[size]
    size_bytes = path.stat().st_size
    source_sha = sha256_of(path)
    warm_page_cache(path)
    report.line(f"Throughput: {size} MB video ({size_bytes:,} bytes), {args.repeat} run(s) of each, alternating")
    report.line("  plain = httpx.stream GET -> tempfile, then boto3 client.upload_file (default TransferConfig)")
    report.line("  ours  = generations.archive.archive_video (download + SHA-256, probe, poster, S3Storage upload)")
    results: dict[str, list[dict]] = {"plain": [], "ours": []}
    for run in range(args.repeat):
        order = ("plain", "ours") if run % 2 == 0 else ("ours", "plain")
        for kind in order:
            result = run_copy(kind, urls[size], duration, env, args.var_dir)
            verify_and_clean(s3, result, size_bytes, source_sha)
            results[kind].append(result)
            phases = "  ".join(f"{name} {seconds:.2f}" for name, seconds in result["phases"].items())
            report.line(
                f"  run {run + 1} {kind:<5} {result['seconds']:7.2f} s  {mbps(size_bytes, result['seconds']):7.1f} MB/s"
                f"  peak RSS {result['peak_rss_mb']:6.1f} MB   [{phases} s]"
            )
    ours = results["ours"][0]
    config = ours["transfer_config"]
    report.line(
        f"  ours used {ours['storage']} with TransferConfig multipart_chunksize={config['multipart_chunksize']:,}, "
        f"max_concurrency={config['max_concurrency']}, "
        f"max_in_memory_upload_chunks={config['max_in_memory_upload_chunks']}; "
        + (
            "first_attempt=True as the pipeline's first attempt (no search for an earlier attempt's leftovers)"
            if ours.get("first_attempt")
            else "this archive_video has no first_attempt: it deletes and lists uploads before each write"
        )
    )

    def med(kind: str, value) -> float:
        return median([value(result) for result in results[kind]])

    plain_s = med("plain", lambda r: r["seconds"])
    ours_s = med("ours", lambda r: r["seconds"])
    ours_core_s = med("ours", lambda r: r["seconds"] - r["phases"]["probe"] - r["phases"]["poster"])
    plain_mbps, ours_mbps, core_mbps = (mbps(size_bytes, s) for s in (plain_s, ours_s, ours_core_s))
    report.line()
    report.line(f"  median of {args.repeat}          time      MB/s    ratio to plain (target >= 0.80)")
    report.line(f"  plain boto3 copy       {plain_s:7.2f} s  {plain_mbps:7.1f}    1.00")
    report.line(
        f"  ours (archive_video)   {ours_s:7.2f} s  {ours_mbps:7.1f}    {ours_mbps / plain_mbps:.2f}"
        f"  {'MET' if ours_mbps / plain_mbps >= 0.8 else 'MISSED'}"
    )
    report.line(f"  ours minus probe+poster{ours_core_s:7.2f} s  {core_mbps:7.1f}    {core_mbps / plain_mbps:.2f}")
    for phase in ("download", "probe", "poster", "upload"):
        report.line(f"    ours {phase:<8} median {med('ours', lambda r, p=phase: r['phases'][p]):6.2f} s")
    for phase in ("download", "upload"):
        report.line(f"    plain {phase:<8} median {med('plain', lambda r, p=phase: r['phases'][p]):6.2f} s")


def _memory(report, args, s3, env, videos, urls) -> None:
    report.line("Peak RSS per video size: one fresh child process per copy (VmHWM; MB = 10^6 bytes)")
    report.line(
        "  baseline = the child's RSS after Django setup and imports, before the copy; target: ours flat, < 150 MB"
    )
    report.line(
        f"  {'video':>18}  {'kind':<16}  baseline   peak    peak-baseline   "
        "peak after: download / probe / poster / upload (plain: download / upload)"
    )
    peaks: list[float] = []
    what_if_peaks: list[float] = []
    rows = [("render", f"{args.render_seconds} s 1080p render")] if "render" in videos else []
    rows += [(size, f"{size} MB") for size in args.sizes]
    for label, title in rows:
        path, duration = videos[label]
        size_bytes = path.stat().st_size
        warm_page_cache(path)
        for kind in ("ours", "ours-path-upload", "plain") if args.what_if else ("ours", "plain"):
            result = run_copy(kind, urls[label], duration, env, args.var_dir)
            verify_and_clean(s3, result, size_bytes, None)
            after = " / ".join(f"{mb:.0f}" for mb in result["peak_after_phase_mb"].values())
            if kind == "ours" and label != "render":
                peaks.append(result["peak_rss_mb"])
            if kind == "ours-path-upload" and label != "render":
                what_if_peaks.append(result["peak_rss_mb"])
            report.line(
                f"  {title:>18}  {kind:<16}  {result['baseline_rss_mb']:6.1f}   {result['peak_rss_mb']:6.1f}"
                f"   {result['peak_rss_mb'] - result['baseline_rss_mb']:+8.1f}        {after}"
                f"   ({mbps(size_bytes, result['seconds']):.0f} MB/s)"
            )
    spread = max(peaks) - min(peaks)
    flat = spread <= FLAT_FRACTION * min(peaks)
    report.line(
        f"  ours: peak {min(peaks):.1f} to {max(peaks):.1f} MB over {', '.join(f'{s} MB' for s in args.sizes)}; "
        f"flat (spread {spread:.1f} MB, <= {FLAT_FRACTION:.0%} of the lowest): {'MET' if flat else 'MISSED'}; "
        f"under {RSS_TARGET_MB} MB: {'MET' if max(peaks) < RSS_TARGET_MB else 'MISSED'}"
    )
    if what_if_peaks:
        report.line(
            f"  what-if ours-path-upload (the upload forced to upload_file(path) in the child; the app's "
            f"S3FileStorage already uploads that way): peak {min(what_if_peaks):.1f} to "
            f"{max(what_if_peaks):.1f} MB"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--throughput-size", type=int, default=200, help="MB of the video copied for throughput")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each copy for throughput (median)")
    parser.add_argument(
        "--sizes", default="20,200,1000", help="MB of the videos whose peak RSS is measured, comma-separated"
    )
    parser.add_argument(
        "--render-seconds",
        type=int,
        default=12,
        help="also measure the memory for the simulator's real 1080p render of this length (0: skip)",
    )
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="where the raw output goes")
    parser.add_argument("--var-dir", default=DEFAULT_VAR_DIR, help="cached videos and the simulator's state")
    parser.add_argument(
        "--what-if",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also measure ours with S3Storage's upload forced to upload_file(path) in the child "
        "(the comparison that led to generations.storage.S3FileStorage, which now does that itself)",
    )
    parser.add_argument("--child", choices=("ours", "ours-path-upload", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.var_dir = str((ROOT / args.var_dir).resolve())
    if not args.child:
        args.sizes = [int(size) for size in str(args.sizes).split(",") if size.strip()]
        if args.repeat < 1 or args.throughput_size < 1 or not args.sizes or min(args.sizes) < 1:
            parser.error("--repeat, --throughput-size and --sizes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
