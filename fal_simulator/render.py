"""Real mp4 renders of the submitted image: H.264, yuv420p, 24 fps, `+faststart`, a slow zoom.

Sizes: Seedance 1.0's published table (SIZES: 1080p 16:9 = 1920x1088, 1:1 = 1440x1440,
480p 16:9 = 864x480); `auto` snaps the image's own aspect to the nearest allowed ratio. A clip has
exactly `num_frames` frames (24 per second of duration). `camera_fixed` gives a still shot.

Speed: the image is cropped/scaled once into Y, Cb and Cr planes (limited range BT.601,
chroma already at half size); each frame is then three BILINEAR crop-resizes of those
planes, written straight into the yuv420p frame, so no per-frame RGB->YUV conversion.
A producer thread makes frames (Pillow releases the GIL) while libx264 (ultrafast)
encodes. Renders are cached on disk by image hash and parameters.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageOps

FPS = 24
RENDER_VERSION = 1  # bump when output changes, so stale cache entries are not served
RATIOS = {"21:9": (21, 9), "16:9": (16, 9), "4:3": (4, 3), "1:1": (1, 1), "3:4": (3, 4), "9:16": (9, 16)}
# Seedance 1.0's published output sizes, what fal renders (docs/fal-contract.md, "Output sizes").
SIZES = {
    "480p": {"16:9": (864, 480), "4:3": (736, 544), "1:1": (640, 640), "3:4": (544, 736), "9:16": (480, 864),
             "21:9": (960, 416)},
    "720p": {"16:9": (1248, 704), "4:3": (1120, 832), "1:1": (960, 960), "3:4": (832, 1120), "9:16": (704, 1248),
             "21:9": (1504, 640)},
    "1080p": {"16:9": (1920, 1088), "4:3": (1664, 1248), "1:1": (1440, 1440), "3:4": (1248, 1664),
              "9:16": (1088, 1920), "21:9": (2176, 928)},
}  # fmt: skip
CRF = "25"

# Full-range 8-bit (Pillow's YCbCr) to the limited range H.264 players assume.
_Y_LUT = [round(16 + v * 219 / 255) for v in range(256)]
_C_LUT = [round(16 + v * 224 / 255) for v in range(256)]


class RenderAborted(Exception):
    """Raised by a progress callback to stop a render (cancel, shutdown)."""


@dataclass(frozen=True)
class RenderResult:
    path: Path
    width: int
    height: int
    num_frames: int
    aspect_ratio: str  # the one used (`auto` resolved)
    cached: bool
    seconds: float  # time spent in this call


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def nearest_aspect(width: int, height: int) -> str:
    target = math.log(width / height)
    return min(RATIOS, key=lambda name: abs(math.log(RATIOS[name][0] / RATIOS[name][1]) - target))


def output_size(resolution: str, aspect_ratio: str, image_size: tuple[int, int] | None = None) -> tuple[int, int, str]:
    """(width, height, aspect ratio used) for a render."""
    if aspect_ratio == "auto":
        if image_size is None:
            raise ValueError("aspect_ratio 'auto' needs the image size")
        aspect_ratio = nearest_aspect(*image_size)
    width, height = SIZES[resolution][aspect_ratio]
    return width, height, aspect_ratio


def image_size(image_bytes: bytes) -> tuple[int, int]:
    """The displayed size (EXIF rotation applied) without decoding the pixels."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _load_rgb(image_bytes: bytes, at_least: tuple[int, int]) -> Image.Image:
    image = Image.open(io.BytesIO(image_bytes))
    side = max(at_least)
    if image.format == "JPEG":
        image.draft("RGB", (side, side))  # lets libjpeg decode big photos at a reduced scale
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        backdrop = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(backdrop, image)
    return image.convert("RGB")


def _yuv_planes(rgb: Image.Image) -> tuple[Image.Image, Image.Image, Image.Image]:
    """Limited-range Y at full size, Cb/Cr at half size (rgb's size must be even)."""
    y, cb, cr = rgb.convert("YCbCr").split()
    half = (rgb.width // 2, rgb.height // 2)
    return (
        y.point(_Y_LUT),
        cb.resize(half, Image.Resampling.BILINEAR).point(_C_LUT),
        cr.resize(half, Image.Resampling.BILINEAR).point(_C_LUT),
    )


def _padded(plane: Image.Image, line_size: int) -> bytes:
    # libav aligns frame rows; a plane narrower than its line size is padded per row.
    if plane.width == line_size:
        return plane.tobytes()
    wide = Image.new("L", (line_size, plane.height))
    wide.paste(plane, (0, 0))
    return wide.tobytes()


def _smoothstep(t: float) -> float:
    return t * t * (3 - 2 * t)


def _frames(rgb: Image.Image, width: int, height: int, num_frames: int, camera_fixed: bool, line_sizes: list[int]):
    """Yields per frame the three plane buffers, ready for `plane.update`."""
    out_sizes = [(width, height), (width // 2, height // 2), (width // 2, height // 2)]
    if camera_fixed:
        planes = _yuv_planes(ImageOps.fit(rgb, (width, height), Image.Resampling.BILINEAR))
        still = [_padded(p, ls) for p, ls in zip(planes, line_sizes, strict=True)]
        for _ in range(num_frames):
            yield still
        return
    seconds = num_frames / FPS
    zoom = 1.0 + min(0.15, max(0.03, 0.02 * seconds))  # slow: about 2% per second, at most 15%
    base_w, base_h = _even(width * zoom), _even(height * zoom)
    planes = _yuv_planes(ImageOps.fit(rgb, (base_w, base_h), Image.Resampling.BILINEAR))
    for i in range(num_frames):
        t = _smoothstep(i / (num_frames - 1)) if num_frames > 1 else 0.0
        z = 1.0 + (zoom - 1.0) * t
        crop_w, crop_h = base_w / z, base_h / z
        x0 = (base_w - crop_w) * (0.5 + 0.15 * t)  # a slight drift to the right and up
        y0 = (base_h - crop_h) * (0.5 - 0.1 * t)
        buffers = []
        for scale, plane, size, line_size in zip((1, 2, 2), planes, out_sizes, line_sizes, strict=True):
            box = (
                x0 / scale,
                y0 / scale,
                min(plane.width, (x0 + crop_w) / scale),
                min(plane.height, (y0 + crop_h) / scale),
            )
            buffers.append(_padded(plane.resize(size, Image.Resampling.BILINEAR, box=box), line_size))
        yield buffers


def encode(
    image_bytes: bytes,
    out_path: Path,
    *,
    width: int,
    height: int,
    num_frames: int,
    camera_fixed: bool,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Writes the clip to out_path; `progress(done, total)` may raise RenderAborted."""
    rgb = _load_rgb(image_bytes, (width * 2, height * 2))
    line_sizes = [p.line_size for p in av.VideoFrame(width, height, "yuv420p").planes]
    frames: queue.Queue = queue.Queue(maxsize=8)
    stop = threading.Event()

    def produce():
        try:
            for buffers in _frames(rgb, width, height, num_frames, camera_fixed, line_sizes):
                while not stop.is_set():
                    try:
                        frames.put(buffers, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            frames.put(None)
        except BaseException as exc:  # handed to the encoding thread, which re-raises it
            frames.put(exc)

    producer = threading.Thread(target=produce, name="fal-sim-frames", daemon=True)
    producer.start()
    try:
        with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=FPS)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": CRF}
            stream.codec_context.gop_size = 2 * FPS
            stream.codec_context.color_range = 1  # MPEG (limited), as the LUTs produce
            stream.codec_context.colorspace = 6  # SMPTE 170M: Pillow's YCbCr uses BT.601 weights
            done = 0
            while True:
                item = frames.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                frame = av.VideoFrame(width, height, "yuv420p")
                for plane, data in zip(frame.planes, item, strict=True):
                    plane.update(data)
                frame.pts = done
                frame.time_base = Fraction(1, FPS)
                for packet in stream.encode(frame):
                    container.mux(packet)
                done += 1
                if progress and (done % FPS == 0 or done == num_frames):
                    progress(done, num_frames)
            for packet in stream.encode():
                container.mux(packet)
    finally:
        stop.set()
        producer.join(timeout=5)


class Renderer:
    """Renders with an on-disk cache keyed by (image sha256, resolution, aspect, frames, camera_fixed)."""

    def __init__(self, cache_dir: Path):
        self.cache_dir = cache_dir
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def render(
        self,
        image_bytes: bytes,
        *,
        resolution: str,
        aspect_ratio: str,
        num_frames: int,
        camera_fixed: bool,
        progress: Callable[[int, int], None] | None = None,
    ) -> RenderResult:
        started = time.monotonic()
        width, height, aspect = output_size(resolution, aspect_ratio, image_size(image_bytes))
        digest = hashlib.sha256(image_bytes).hexdigest()
        motion = "fixed" if camera_fixed else "zoom"
        key = f"{digest[:32]}-{resolution}-{aspect.replace(':', 'x')}-{num_frames}f-{motion}-v{RENDER_VERSION}"
        path = self.cache_dir / f"{key}.mp4"
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # two requests for the same render wait for one encode
            cached = path.exists()
            if not cached:
                tmp = self.cache_dir / f".{key}.{uuid.uuid4().hex}.tmp"
                try:
                    encode(
                        image_bytes,
                        tmp,
                        width=width,
                        height=height,
                        num_frames=num_frames,
                        camera_fixed=camera_fixed,
                        progress=progress,
                    )
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
        return RenderResult(path, width, height, num_frames, aspect, cached, time.monotonic() - started)
