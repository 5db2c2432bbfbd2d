"""Library writes: image ingest (validation, dedupe), prompts (dedupe), generation parameters."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from PIL import Image

from generations import services
from generations.models import Generation, Prompt, SourceImage
from tests.conftest import make_image_bytes

pytestmark = pytest.mark.django_db


def _stored_files() -> list[str]:
    found = []

    def walk(path: str) -> None:
        dirs, files = default_storage.listdir(path)
        found.extend(f"{path}/{f}".lstrip("/") for f in files)
        for d in dirs:
            walk(f"{path}/{d}".lstrip("/"))

    if default_storage.exists("source-images"):
        walk("source-images")
    return found


def test_ingest_stores_the_image_with_its_facts(alice, image_bytes):
    image, created = services.source_image_ingest(
        file=io.BytesIO(image_bytes), filename="../../etc/passwd.png", title=" Hills ", uploaded_by=alice
    )
    assert created
    assert (image.width, image.height, image.format, image.size_bytes) == (480, 360, "PNG", len(image_bytes))
    assert image.title == "Hills"
    assert image.original_filename == "../../etc/passwd.png"
    # The storage key comes from the content hash, never from the uploaded name.
    assert image.file.name == f"source-images/{image.sha256[:2]}/{image.sha256}.png"
    with default_storage.open(image.file.name, "rb") as fh:
        assert fh.read() == image_bytes


def test_same_bytes_twice_return_the_existing_image_and_no_second_copy(alice, image_bytes):
    first, created_first = services.source_image_ingest(file=io.BytesIO(image_bytes), filename="a.png")
    second, created_second = services.source_image_ingest(file=io.BytesIO(image_bytes), filename="b.png")
    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert SourceImage.objects.count() == 1
    assert len(_stored_files()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 not an image at all", "not an image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not an image"),
        (make_image_bytes(fmt="PNG")[:200], "damaged or truncated"),
        (make_image_bytes(fmt="JPEG")[:300], "damaged or truncated"),
        (make_image_bytes(fmt="GIF"), "GIF images are not accepted"),
        (make_image_bytes(40, 40), "Seedance needs each side to be at least 300"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason_and_leave_nothing(content, message):
    with pytest.raises(ValidationError, match=message):
        services.source_image_ingest(file=io.BytesIO(content), filename="x.png")
    assert SourceImage.objects.count() == 0
    assert _stored_files() == []


def test_too_large_a_file_is_refused_before_decoding(settings, image_bytes):
    settings.SOURCE_IMAGE_MAX_BYTES = len(image_bytes) - 1
    with pytest.raises(ValidationError, match="largest image accepted"):
        services.source_image_ingest(file=io.BytesIO(image_bytes))
    assert SourceImage.objects.count() == 0


def test_decompression_bomb_is_refused():
    # 20000 x 20000 = 400 MP declared, a few KB on disk.
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, format="PNG")
    assert bomb.tell() < 200_000
    with pytest.raises(ValidationError, match=r"decompression bomb|megapixels"):
        services.source_image_ingest(file=io.BytesIO(bomb.getvalue()))
    assert SourceImage.objects.count() == 0


def test_exif_rotated_jpeg_is_stored_upright():
    image = Image.new("RGB", (640, 320), (10, 200, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    stored, _ = services.source_image_ingest(file=io.BytesIO(buffer.getvalue()))
    assert (stored.width, stored.height) == (320, 640)
    with default_storage.open(stored.file.name, "rb") as fh:
        reopened = Image.open(fh)
        assert reopened.size == (320, 640)
        assert reopened.getexif().get(0x0112, 1) == 1


def test_prompt_dedupes_on_normalised_text_and_keeps_the_first_spelling(alice):
    first, created = services.prompt_get_or_create(text="  A cat   walks\nslowly ", created_by=alice)
    again, created_again = services.prompt_get_or_create(text="A cat walks slowly")
    assert (created, created_again) == (True, False)
    assert first.pk == again.pk
    assert first.text == "  A cat   walks\nslowly "
    assert Prompt.objects.count() == 1
    other, created_other = services.prompt_get_or_create(text="A cat walks quickly")
    assert created_other and other.pk != first.pk


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("   \n\t", "empty"), ("x" * 2001, "maximum is 2000"), ("bad\x00char", "control character")],
)
def test_unusable_prompts_are_refused(text, message):
    with pytest.raises(ValidationError, match=message):
        services.prompt_get_or_create(text=text)
    assert Prompt.objects.count() == 0


def test_prompt_may_contain_newlines_tabs_and_any_script():
    prompt, _ = services.prompt_get_or_create(text="Kamera fährt langsam\tnach vorn\n夜の街、ネオン")
    assert "夜の街" in prompt.text


def test_params_defaults_and_normalisation():
    params = services.GenerationParams.from_raw(duration="7", seed="-1")
    assert (params.aspect_ratio, params.resolution, params.duration, params.seed) == ("auto", "1080p", 7, None)
    assert services.GenerationParams.from_raw(seed="42").seed == 42
    assert services.GenerationParams.from_raw(seed="").seed is None


def test_params_collect_every_error_with_a_specific_message():
    with pytest.raises(ValidationError) as excinfo:
        services.GenerationParams.from_raw(aspect_ratio="2:1", resolution="4k", duration="13", seed="abc")
    errors = excinfo.value.message_dict
    assert "'2:1' is not an aspect ratio" in errors["aspect_ratio"][0]
    assert "'4k' is not a resolution" in errors["resolution"][0]
    assert "2 to 12 seconds, not 13" in errors["duration"][0]
    assert "whole number" in errors["seed"][0]
    with pytest.raises(ValidationError, match="between 0 and 4294967295"):
        services.GenerationParams.from_raw(seed=2**32)
    with pytest.raises(ValidationError, match="not 1"):
        services.GenerationParams.from_raw(duration=1)


def test_generation_create_snapshots_the_prompt_text(source_image, prompt, alice):
    batch = services.batch_create(owner=alice, note="hills")
    generation = services.generation_create(
        source_image=source_image,
        prompt=prompt,
        params=services.GenerationParams.from_raw(resolution="720p", duration=3, seed=7, camera_fixed=True),
        requested_by=alice,
        batch=batch,
    )
    Prompt.objects.filter(pk=prompt.pk).update(text="edited later")
    generation.refresh_from_db()
    assert generation.prompt_text == "A slow zoom over the hills at dawn."
    assert (generation.resolution, generation.duration, generation.seed, generation.camera_fixed) == (
        "720p",
        3,
        7,
        True,
    )
    assert generation.batch == batch and generation.status == Generation.Status.PENDING
