"""Management commands that need no fal: import_images and reconcile."""

from __future__ import annotations

import io
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from generations.models import SourceImage
from tests.conftest import make_image_bytes

pytestmark = pytest.mark.django_db


def test_import_images_imports_dedupes_refuses_and_summarises(tmp_path):
    (tmp_path / "a.png").write_bytes(make_image_bytes(400, 300))
    (tmp_path / "a-copy.PNG").write_bytes(make_image_bytes(400, 300))
    (tmp_path / "b.jpg").write_bytes(make_image_bytes(450, 300, fmt="JPEG"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.webp").write_bytes(make_image_bytes(320, 320, fmt="WEBP"))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_images", str(tmp_path), stdout=out, stderr=err)
    assert out.getvalue().strip() == (
        "4 image file(s) found: 2 imported, 1 already in the library, 1 refused; 1 other file(s) ignored."
    )
    assert "refused" in err.getvalue() and "broken.png" in err.getvalue()
    assert SourceImage.objects.count() == 2
    assert set(SourceImage.objects.values_list("title", flat=True)) == {"a-copy", "b"}  # first in name order

    call_command("import_images", str(tmp_path), "--recursive", stdout=out, stderr=err)
    assert SourceImage.objects.count() == 3


def test_import_images_refuses_a_missing_folder(tmp_path):
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("import_images", str(tmp_path / "nope"))


def test_reconcile_command_prints_what_it_resumed(generation):
    from datetime import timedelta

    from django.utils import timezone

    from generations.models import Generation

    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(hours=1))
    out = io.StringIO()
    with mock.patch("generations.tasks.submit_generation.delay") as submit:
        call_command("reconcile", "--older-than", "60", stdout=out)
    submit.assert_called_once_with(generation.pk)
    assert "1 submission(s) resumed" in out.getvalue()
