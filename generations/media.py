"""Inspecting a downloaded video file: is it a whole, playable MP4, and what is it?

Pure functions over a local path (no database, no storage), built on PyAV (FFmpeg's
libraries inside the `av` wheel). Both are fast because neither decodes the whole video:
probe_video reads the MP4's boxes and index and decodes two frames, extract_poster decodes
one (or the few up to a later time), so a 1080p clip takes milliseconds.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error

# The MP4 major brand QuickTime files declare; the mov demuxer reads both, we keep only MP4.
QUICKTIME_BRAND = "qt"
POSTER_JPEG_QUALITY = 85
# Big enough for a sharp gallery card or player poster, small enough to load fast (a 1080p
# video gives a 1280×720 poster).
POSTER_MAX_SIDE = 1280


@dataclass(frozen=True)
class VideoFacts:
    duration: float  # seconds, of the video track
    width: int
    height: int
    fps: float
    codec: str  # FFmpeg's short name: "h264", "hevc", ...
    container: str  # "mp4"
    brand: str  # the MP4 major brand, e.g. "isom"
    bit_rate: int | None  # bits per second over the whole file; None when FFmpeg cannot tell


class InvalidVideo(Exception):
    """The file is not a complete, decodable MP4 video; `reason` is a sentence for people.

    `code` is one of "not_mp4", "no_video_stream", "truncated", "undecodable".
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __reduce__(self):
        # Exceptions pickle as cls(*args); ours need both values back.
        return (type(self), (self.code, self.reason))


def probe_video(path: str | os.PathLike) -> VideoFacts:
    """Describe the MP4 at `path`; raises InvalidVideo when it is not a whole, decodable MP4 video.

    A truncated file is caught twice over: its top-level boxes (ftyp, moov, mdat) must each
    fit in the file, and its index (the moov box lists where every frame lies) must not point
    past the end. The first frame and the last keyframe are decoded to prove the data itself
    is readable.
    """
    with _open_mp4(path) as container:
        stream = _video_stream(container)
        _check_complete(container, stream, path)
        _check_decodable(container, stream)
        codec_context = stream.codec_context
        return VideoFacts(
            duration=_duration_seconds(container, stream),
            width=codec_context.width,
            height=codec_context.height,
            fps=_frames_per_second(stream),
            codec=codec_context.name,
            container="mp4",
            brand=container.metadata.get("major_brand", "").strip(),
            bit_rate=container.bit_rate or None,
        )


def extract_poster(path: str | os.PathLike, *, at_seconds: float = 0.0, max_side: int = POSTER_MAX_SIDE) -> bytes:
    """A JPEG of the frame shown at `at_seconds` (default: the first frame), at most `max_side` wide or high.

    The first frame is the default because an image-to-video generation starts from the
    source still, so it is the most representative frame, it is what a player shows before
    play starts, and it needs no seeking (about 10 ms for 1080p). A later time decodes from
    the keyframe before it. Raises InvalidVideo if no frame can be decoded.
    """
    with _open_mp4(path) as container:
        stream = _video_stream(container)
        frame = _frame_at(container, stream, at_seconds)
        width, height = _fit_within(frame.width, frame.height, max_side)
        image = frame.to_image(width=width, height=height)  # swscale scales and converts in one pass
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=POSTER_JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


# --- Opening and checks -------------------------------------------------------------------------


def _open_mp4(path: str | os.PathLike) -> av.container.InputContainer:
    boxes = _top_level_boxes(path)
    try:
        container = av.open(os.fspath(path), mode="r")
    except (av.error.FFmpegError, OSError) as exc:
        if boxes:
            raise InvalidVideo("undecodable", f"The MP4 cannot be opened ({exc}).") from None
        raise InvalidVideo("not_mp4", "The file is not a video (FFmpeg does not recognise its format).") from None
    brand = container.metadata.get("major_brand", "").strip()
    if "mp4" not in container.format.name.split(",") or not brand or brand == QUICKTIME_BRAND:
        kind = "a QuickTime movie" if brand == QUICKTIME_BRAND else f"a {container.format.long_name} file"
        container.close()
        raise InvalidVideo("not_mp4", f"The file is {kind}, not an MP4.")
    return container


def _top_level_boxes(path: str | os.PathLike) -> list[str]:
    """The types of an MP4's top-level boxes ("ftyp", "moov", "mdat", ...); [] if it is not an MP4.

    Raises InvalidVideo("truncated") when a box runs past the end of the file or there is
    no moov box (the index, without which nothing plays): the cheapest sure sign of a
    download cut short, wherever the cut is.
    """
    file_size = os.path.getsize(path)
    boxes: list[str] = []
    with open(path, "rb") as file:
        offset = 0
        while offset < file_size:
            file.seek(offset)
            header = file.read(16)
            if not boxes and header[4:8] != b"ftyp":
                return []  # every MP4 begins with an ftyp box
            if len(header) < 8:
                raise _truncated(f"it ends inside a box header at byte {offset:,}")
            size, box_type = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:  # the real size follows, in 64 bits
                if len(header) < 16:
                    raise _truncated(f"it ends inside the {box_type} box header")
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:  # "to the end of the file"
                size = file_size - offset
            if size < 8:
                raise InvalidVideo("undecodable", f"The MP4's {box_type!r} box declares an impossible size ({size}).")
            if offset + size > file_size:
                raise _truncated(f"its {box_type} box needs {offset + size:,} bytes but the file has {file_size:,}")
            boxes.append(box_type)
            offset += size
    if boxes and "moov" not in boxes:
        raise _truncated("it has no moov box (the index), which MP4 writers put first or last")
    return boxes


def _truncated(detail: str) -> InvalidVideo:
    return InvalidVideo("truncated", f"The MP4 is truncated: {detail}.")


def _video_stream(container: av.container.InputContainer) -> av.VideoStream:
    if not container.streams.video:
        raise InvalidVideo("no_video_stream", "The MP4 has no video track (audio or data only).")
    return container.streams.video[0]


def _check_complete(container: av.container.InputContainer, stream: av.VideoStream, path: str | os.PathLike) -> None:
    file_size = os.path.getsize(path)
    for any_stream in container.streams:
        entries = any_stream.index_entries or ()
        data_end = max((entry.pos + entry.size for entry in entries), default=0)
        if data_end > file_size:
            raise _truncated(f"its index needs {data_end:,} bytes but the file has {file_size:,}")
    if len(stream.index_entries or ()) == 0:
        raise InvalidVideo("undecodable", "The MP4's video track has no frames.")


def _check_decodable(container: av.container.InputContainer, stream: av.VideoStream) -> None:
    _frame_at(container, stream, 0.0)
    last_keyframe = _last_keyframe_timestamp(stream)
    if last_keyframe is not None and last_keyframe > (stream.start_time or 0):
        container.seek(last_keyframe, stream=stream, backward=True, any_frame=False)
        _first_decoded_frame(container, stream, "the last keyframe")


def _last_keyframe_timestamp(stream: av.VideoStream) -> int | None:
    entries = stream.index_entries or ()
    for position in range(len(entries) - 1, -1, -1):
        if entries[position].is_keyframe:
            return entries[position].timestamp
    return None


# --- Frames and numbers -------------------------------------------------------------------------


def _frame_at(container: av.container.InputContainer, stream: av.VideoStream, at_seconds: float) -> av.VideoFrame:
    if at_seconds <= 0:
        container.seek(stream.start_time or 0, stream=stream, backward=True)
        return _first_decoded_frame(container, stream, "the first frame")
    target = int(Fraction(at_seconds).limit_denominator(1_000_000) / stream.time_base) + (stream.start_time or 0)
    container.seek(target, stream=stream, backward=True, any_frame=False)
    frame = None
    try:
        for frame in container.decode(stream):
            if frame.pts is not None and frame.pts >= target:
                return frame
    except av.error.FFmpegError as exc:
        raise InvalidVideo("undecodable", f"The video cannot be decoded near {at_seconds} s ({exc}).") from None
    if frame is None:
        raise InvalidVideo("undecodable", f"No frame of the video could be decoded near {at_seconds} s.")
    return frame  # the target is past the last frame: the last frame is the nearest


def _first_decoded_frame(container: av.container.InputContainer, stream: av.VideoStream, which: str) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise InvalidVideo("undecodable", f"The video cannot be decoded at {which} ({exc}).") from None
    raise InvalidVideo("undecodable", f"The video's data cannot be decoded at {which}: no frame came out.")


def _duration_seconds(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    raise InvalidVideo("undecodable", "The MP4 does not say how long its video track is.")


def _frames_per_second(stream: av.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))
