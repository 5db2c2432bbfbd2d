"""Seedance's input-image limits (issue 11, item 9): refused at every entry, and an image
already in the library that breaks them is marked and never generated from.

The refusals of new files through each entry point (gallery upload, `generate --image`,
`import_images`) are in tests/security/test_bad_input.py's UPLOADS matrix; here are the
limits' edges, the header-only check, and images stored before the limits existed.
"""

from __future__ import annotations

import hashlib
import io
import re
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils.html import escape
from PIL import Image

from generations import actions, services
from generations.images import SEEDANCE_MAX_BYTES, inspect_image
from generations.models import AuditEvent, Batch, Generation, SourceImage
from tests.conftest import T0, generate_form, generation_rows, make_image_bytes

pytestmark = pytest.mark.django_db
S = Generation.Status

WIDE = "The image is 4000×1200 pixels (ratio 3.33); Seedance accepts width/height between 0.4 and 2.5."
REFUSED = f"Videos cannot be generated from “panorama”: {WIDE}"


@pytest.fixture(autouse=True)
def no_workers():
    """Nothing reaches Celery: a generation that is (rightly) created stays pending."""
    with mock.patch("generations.tasks.submit_generation.delay", autospec=True) as submit:
        yield submit


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 90).save(buffer, format="PNG")
    return buffer.getvalue()


def inspect(content: bytes):
    return inspect_image(content, max_bytes=64 * 1024 * 1024, filename="x.png")


# --- The limits' edges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [(300, 300), (300, 750), (750, 300), (6000, 2400), (2400, 6000), (400, 1000), (1000, 400)],
)
def test_images_on_the_limits_are_accepted(width, height):
    inspected = inspect(_png(width, height, mode="L"))
    assert (inspected.width, inspected.height) == (width, height)


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (299, 400, "The image is 299×400 pixels; Seedance needs each side to be at least 300."),
        (400, 299, "The image is 400×299 pixels; Seedance needs each side to be at least 300."),
        (6001, 2401, "The image is 6001×2401 pixels; Seedance accepts at most 6000 pixels a side."),
        (2401, 6001, "The image is 2401×6001 pixels; Seedance accepts at most 6000 pixels a side."),
        (1001, 400, "The image is 1001×400 pixels (ratio 2.502); Seedance accepts width/height between 0.4 and 2.5."),
        (4000, 1200, WIDE),
    ],
)
def test_images_past_a_limit_are_refused_naming_it(width, height, message):
    with pytest.raises(ValidationError) as caught:
        inspect(_png(width, height, mode="L"))
    assert caught.value.messages == [message]


def test_sides_and_ratio_are_checked_from_the_header_before_decoding():
    with pytest.raises(ValidationError) as caught, mock.patch("generations.images._decode") as decode:
        inspect(make_image_bytes(4000, 1200))
    assert caught.value.messages == [WIDE]
    decode.assert_not_called()


def test_seedance_s_30_mb_binds_even_when_our_limit_is_higher(settings):
    settings.SOURCE_IMAGE_MAX_BYTES = 100 * 1024 * 1024
    content = make_image_bytes() + b"\0" * SEEDANCE_MAX_BYTES  # the size is judged before the file is opened
    with pytest.raises(ValidationError) as caught:
        services.source_image_ingest(file=io.BytesIO(content), filename="scan.png")
    assert caught.value.messages == [
        f"The file is {len(content) / 1024 / 1024:.1f} MB; Seedance accepts images of at most 30.0 MB."
    ]
    assert SourceImage.objects.count() == 0


def test_the_demo_images_are_within_the_limits():
    from django.conf import settings

    from generations.images import ALL_EXTENSIONS

    folder = settings.BASE_DIR / "generations" / "demo"
    paths = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in ALL_EXTENSIONS]
    assert len(paths) >= 4
    for path in paths:
        inspect_image(path.read_bytes(), max_bytes=SEEDANCE_MAX_BYTES, filename=path.name)


# --- Images stored before the limits ---------------------------------------------------


def library_row(width: int, height: int, title: str, **facts) -> SourceImage:
    """A SourceImage written straight to the database (as before the limits), with a real file."""
    content = make_image_bytes(width, height)
    image = SourceImage(
        sha256=hashlib.sha256(content).hexdigest(),
        width=width,
        height=height,
        format="PNG",
        size_bytes=len(content),
        title=title,
    )
    for name, value in facts.items():
        setattr(image, name, value)
    image.file.save("legacy", ContentFile(content), save=False)
    image.save()
    return image


@pytest.fixture
def panorama(db):
    return library_row(4000, 1200, "panorama")


@pytest.fixture
def old_generation(panorama, prompt):
    """A failed generation from the panorama, made before the limits."""
    make = generation_rows(panorama, prompt, default_status=S.FAILED)
    return make(T0, seed=7, error_code="fal_422", error_message="The image was refused.")


def counts() -> dict:
    return {m.__name__: m.objects.count() for m in (SourceImage, Generation, Batch, AuditEvent)}


@pytest.mark.parametrize(
    ("facts", "problem"),
    [
        ({"width": 480, "height": 360}, ""),
        ({"width": 200, "height": 100}, "The image is 200×100 pixels; Seedance needs each side to be at least 300."),
        ({"width": 4000, "height": 1200}, WIDE),
        (
            {"width": 7000, "height": 3500},
            "The image is 7000×3500 pixels; Seedance accepts at most 6000 pixels a side.",
        ),
        (
            {"width": 200, "height": 600},
            "The image is 200×600 pixels; Seedance needs each side to be at least 300. "
            "The image is 200×600 pixels (ratio 0.33); Seedance accepts width/height between 0.4 and 2.5.",
        ),
        (
            {"width": 1000, "height": 1000, "size_bytes": 31 * 1024 * 1024},
            "The file is 31.0 MB; Seedance accepts images of at most 30.0 MB.",
        ),
        ({"width": 1000, "height": 1000, "format": "HEIC"}, "Seedance does not accept HEIC images."),
    ],
)
def test_seedance_problem_is_computed_from_the_stored_facts(facts, problem):
    image = SourceImage(**{"width": 1, "height": 1, "format": "PNG", "size_bytes": 1000, **facts})
    assert image.seedance_problem == problem


def test_plan_refuses_an_unusable_image_with_its_reason(panorama, source_image):
    assert source_image.seedance_problem == ""
    with pytest.raises(ValidationError) as caught:
        actions.plan(
            images=[source_image, panorama], prompt_texts=["Waves roll in."], params=services.GenerationParams()
        )
    assert caught.value.messages == [REFUSED]


def test_generation_create_refuses_it_too_and_stores_nothing(panorama, prompt, no_workers):
    before = counts()
    with pytest.raises(ValidationError) as caught:
        services.generation_create(source_image=panorama, prompt=prompt, params=services.GenerationParams())
    assert caught.value.messages == [REFUSED]
    assert counts() == before
    no_workers.assert_not_called()


@pytest.mark.parametrize("action", [actions.retry, actions.remix])
def test_retry_and_remix_are_refused(old_generation, alice, action, no_workers):
    before = counts()
    with pytest.raises(ValidationError) as caught:
        action(old_generation, user=alice)
    assert caught.value.messages == [REFUSED]
    assert counts() == before
    no_workers.assert_not_called()


def test_the_gallery_marks_the_image_and_refuses_a_remix(generator_client, old_generation, panorama):
    page = generator_client.get(reverse("image-detail", args=[panorama.code]))
    assert "Not usable with Seedance" in page.text and escape(WIDE) in page.text

    listing = generator_client.get(reverse("images"))
    assert f"Not usable with Seedance: {escape(WIDE)}" in listing.text

    detail = generator_client.get(reverse("generation-detail", args=[old_generation.code]))
    assert "No remix: the source image is not usable with Seedance." in detail.text
    assert reverse("generation-remix", args=[old_generation.code]) not in detail.text

    before = counts()
    response = generator_client.post(reverse("generation-remix", args=[old_generation.code]), follow=True)
    assert [str(m) for m in response.context["messages"]] == [f"Not remixed: {REFUSED}"]
    assert counts() == before


def test_a_usable_image_has_no_notice(generator_client, source_image):
    page = generator_client.get(reverse("image-detail", args=[source_image.code]))
    assert "Not usable with Seedance" not in page.text
    assert "Not usable with Seedance" not in generator_client.get(reverse("images")).text


def test_the_admin_marks_the_image_and_its_generate_form_refuses_it(client, superuser, panorama, source_image):
    client.force_login(superuser)
    listing = client.get(reverse("admin:generations_sourceimage_changelist"))
    assert f"No: {escape(WIDE)}" in listing.text
    assert listing.text.count('class="unusable-image"') == 1  # the usable image says "yes"
    change = client.get(reverse("admin:generations_sourceimage_change", args=[panorama.pk]))
    assert escape(WIDE) in change.text

    before = counts()
    data = generate_form(panorama)
    response = client.post(reverse("admin:generations_generation_generate"), data)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [REFUSED]
    assert escape(REFUSED) in response.text
    assert counts() == before


def test_the_commands_refuse_the_same_bytes_as_new_files(tmp_path, panorama):
    """The file of an unusable library image, given again: refused by the limits, not matched by its hash."""
    path = tmp_path / "panorama.png"
    with default_storage.open(panorama.file.name, "rb") as fh:
        path.write_bytes(fh.read())
    before = counts()
    with pytest.raises(CommandError, match=re.escape(f"refused — {WIDE}")):
        call_command("generate", "--image", str(path), "--prompt", "Waves roll in.", stdout=io.StringIO())
    err = io.StringIO()
    with pytest.raises(CommandError, match="No image could be imported"):
        call_command("import_images", str(tmp_path), stdout=io.StringIO(), stderr=err)
    assert WIDE in err.getvalue()
    assert counts() == before
