"""Real media files for the archive tests, made with PyAV (no binary fixtures).

Frames are a gradient with a moving red square and the frame number, so each frame
differs and a poster can be told apart from a later frame.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw

FPS = 24


def make_video(
    path: Path,
    *,
    seconds: float,
    width: int = 854,
    height: int = 480,
    container_format: str = "mp4",
    faststart: bool = True,
    keyframe_every: int = FPS,
) -> Path:
    """An H.264 video like fal's (yuv420p, 24 fps, +faststart by default), one keyframe a second."""
    options = {"movflags": "+faststart"} if faststart and container_format in ("mp4", "mov") else {}
    with av.open(str(path), "w", format=container_format, options=options) as output:
        stream = output.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = keyframe_every
        stream.options = {"preset": "veryfast"}
        base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        for number in range(round(seconds * FPS)):
            frame = _numbered_frame(base, number)
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def _numbered_frame(base: Image.Image, number: int) -> Image.Image:
    image = base.copy()
    draw = ImageDraw.Draw(image)
    side = max(8, image.height // 6)
    x = (number * 12) % max(1, image.width - side)
    draw.rectangle([x, image.height // 4, x + side, image.height // 4 + side], fill=(230, 30, 30))
    draw.text((10, 10), f"frame {number}", fill=(255, 255, 255))
    return image


def make_audio_only_mp4(path: Path, *, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=48000)
        stream.layout = "mono"
        samples_done = 0
        while samples_done < seconds * 48000:
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            frame.planes[0].update(bytes(frame.planes[0].buffer_size))  # silence
            frame.sample_rate = 48000
            frame.pts = samples_done
            samples_done += 1024
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def make_big_intra_mp4(path: Path, *, seconds: float, width: int, height: int) -> Path:
    """A valid, large MP4 made fast: a few lossless noise keyframes, muxed over and over.

    Lossless noise costs about 1.9 bytes a pixel a frame, so 5 s of 720×400 is about 64 MB.
    Encoding that much video honestly takes many seconds; repeating already-encoded
    keyframes (each decodable on its own) with fresh timestamps takes a fraction of one.
    """
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as output:
        stream = output.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 1
        stream.options = {"preset": "ultrafast", "qp": "0"}
        encoded = []
        for _ in range(6):
            noise = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
            encoded.extend(stream.encode(av.VideoFrame.from_image(noise)))
        encoded.extend(stream.encode())
        payloads = [bytes(packet) for packet in encoded]
        ticks = 512  # per frame, in a 1/(24*512) s time base, as libx264 in mp4 uses
        for number in range(round(seconds * FPS)):
            packet = av.Packet(payloads[number % len(payloads)])
            packet.stream = stream
            packet.time_base = Fraction(1, FPS * ticks)
            packet.pts = packet.dts = number * ticks
            packet.duration = ticks
            packet.is_keyframe = True
            output.mux(packet)
    return path


def truncate_copy(source: Path, destination: Path, *, keep_fraction: float) -> Path:
    data = source.read_bytes()
    destination.write_bytes(data[: int(len(data) * keep_fraction)])
    return destination


def garble_media_data(source: Path, destination: Path) -> Path:
    """A copy whose structure (ftyp, moov) is intact but whose coded frames are noise."""
    data = bytearray(source.read_bytes())
    start, end = _box_payload(data, b"mdat")
    data[start:end] = bytes(0xFF for _ in range(end - start))
    destination.write_bytes(bytes(data))
    return destination


def _box_payload(data: bytearray, box_type: bytes) -> tuple[int, int]:
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        if data[offset + 4 : offset + 8] == box_type:
            return offset + 8, offset + size
        offset += size
    raise ValueError(f"no {box_type!r} box")
