from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from generations import trash
from generations.models import AuditEvent, Generation

pytestmark = pytest.mark.django_db
S = Generation.Status


@pytest.fixture
def completed(generation):
    generation.video.save("v.mp4", ContentFile(b"video"), save=False)
    Generation.objects.filter(pk=generation.pk).update(
        status=S.COMPLETED, video=generation.video.name, video_sha256="f" * 64
    )
    generation.refresh_from_db()
    return generation


def test_trash_hides_then_restore_brings_back(completed, alice, source_image, prompt):
    from generations import services

    running = services.generation_create(
        source_image=source_image, prompt=prompt, params=services.GenerationParams(), submit=False
    )
    report = trash.move_to_trash([completed, running], user=alice)
    assert [g.pk for g in report.moved] == [completed.pk]
    assert report.skipped[0][1] == "still pending; cancel it first"
    completed.refresh_from_db()
    assert completed.trashed_at is not None and completed.trashed_by == alice
    assert trash.restore([completed]) == 1
    completed.refresh_from_db()
    assert completed.trashed_at is None


def test_purge_deletes_only_expired_with_files_and_audit(completed, settings, django_capture_on_commit_callbacks):
    settings.TRASH_RETENTION_DAYS = 30
    storage, name = completed.video.storage, completed.video.name
    Generation.objects.filter(pk=completed.pk).update(trashed_at=timezone.now() - timedelta(days=29))
    assert trash.purge().deleted == 0
    Generation.objects.filter(pk=completed.pk).update(trashed_at=timezone.now() - timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=True), mock.patch("sys.stdout"):
        call_command("purge_trash")
    assert not Generation.objects.filter(pk=completed.pk).exists()
    assert not storage.exists(name)
    assert AuditEvent.objects.filter(action="delete", generation_code=completed.code).exists()
