"""generations.media on real files: good MP4s, damaged ones, and things that are not MP4 videos."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from generations.media import InvalidVideo, VideoFacts, extract_poster, probe_video


def test_it_describes_a_good_mp4(media_files):
    facts = probe_video(media_files.good_5s)

    assert facts == VideoFacts(
        duration=5.0,
        width=854,
        height=480,
        fps=24.0,
        codec="h264",
        container="mp4",
        brand="isom",
        bit_rate=facts.bit_rate,
    )
    assert 0 < facts.bit_rate < 10_000_000


def test_it_reads_an_mp4_whose_index_comes_last(media_files):
    facts = probe_video(media_files.no_faststart_2s)

    assert (facts.duration, facts.width, facts.height) == (2.0, 854, 480)


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [
        ("truncated_5s", "truncated", "The MP4 is truncated: its mdat box needs"),
        ("truncated_moov", "truncated", "The MP4 is truncated: its mdat box needs"),
        ("garbled", "undecodable", "cannot be decoded"),
        ("audio_only", "no_video_stream", "no video track"),
        ("quicktime", "not_mp4", "QuickTime movie, not an MP4"),
        ("matroska", "not_mp4", "Matroska"),
        ("text", "not_mp4", "not a video"),
        ("png", "not_mp4", "not an MP4"),
    ],
)
def test_it_refuses_what_is_not_a_whole_mp4_video(media_files, name, code, words):
    with pytest.raises(InvalidVideo) as caught:
        probe_video(getattr(media_files, name))

    assert caught.value.code == code
    assert words in caught.value.reason
    assert str(caught.value) == caught.value.reason


def test_it_refuses_an_mp4_cut_anywhere(media_files, tmp_path):
    data = media_files.good_5s.read_bytes()
    for keep in (0.05, 0.3, 0.5, 0.9, 0.99):
        cut = tmp_path / f"cut-{keep}.mp4"
        cut.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(InvalidVideo) as caught:
            probe_video(cut)
        assert caught.value.code == "truncated", keep
    cut.write_bytes(data[:-1])  # a single byte missing
    with pytest.raises(InvalidVideo, match="truncated"):
        probe_video(cut)


def test_it_refuses_an_mp4_cut_where_its_media_data_begins(media_files, tmp_path):
    # Every top-level box is whole; only the index shows that the frames are missing.
    data = media_files.good_5s.read_bytes()
    cut = tmp_path / "no-mdat.mp4"
    cut.write_bytes(data[: data.index(b"mdat") - 4])

    with pytest.raises(InvalidVideo) as caught:
        probe_video(cut)

    assert caught.value.code == "truncated"
    assert "its index needs" in caught.value.reason


def test_it_refuses_an_empty_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")

    with pytest.raises(InvalidVideo) as caught:
        probe_video(empty)

    assert caught.value.code == "not_mp4"


def test_the_poster_is_the_first_frame_as_a_jpeg(media_files):
    poster = extract_poster(media_files.good_2s)

    image = Image.open(io.BytesIO(poster))
    image.load()
    assert image.format == "JPEG"
    assert image.size == (854, 480)
    # The first frame's red square starts at the left edge.
    assert _red_square_x(image) < 40


def test_a_later_poster_shows_a_later_frame(media_files):
    poster = Image.open(io.BytesIO(extract_poster(media_files.good_2s, at_seconds=1.5)))

    # The square moves 12 px a frame: frame 36 puts it near x = 432.
    assert 380 < _red_square_x(poster) < 480


def test_the_poster_fits_within_max_side(media_files):
    poster = Image.open(io.BytesIO(extract_poster(media_files.hd_1080p)))
    small = Image.open(io.BytesIO(extract_poster(media_files.hd_1080p, max_side=320)))

    assert poster.size == (1280, 720)
    assert small.size == (320, 180)


def test_probe_and_poster_are_fast(media_files):
    probe_video(media_files.hd_1080p)  # warm up: first use loads FFmpeg's codecs
    started = time.perf_counter()
    probe_video(media_files.hd_1080p)
    probed = time.perf_counter()
    extract_poster(media_files.hd_1080p)
    done = time.perf_counter()

    # Typically ~5 ms and ~15 ms on 2 cores; the bounds only catch a whole-video decode.
    assert probed - started < 0.25
    assert done - probed < 0.25


def test_no_poster_from_an_undecodable_video(media_files):
    with pytest.raises(InvalidVideo) as caught:
        extract_poster(media_files.garbled)

    assert caught.value.code == "undecodable"


def _red_square_x(image: Image.Image) -> int:
    """The left edge of the red square the test videos draw a quarter of the way down."""
    rgb = image.convert("RGB")
    row = image.height // 4 + 10
    for x in range(rgb.width):
        red, green, blue = rgb.getpixel((x, row))
        if red > 180 and green < 90 and blue < 90:
            return x
    raise AssertionError("no red square in the frame")
