"""The per-status counts (GenerationStatusCount) the dashboard reads: kept by database triggers
(migration 0007) through every kind of write, exact under concurrent writers, and rebuilt by
`manage.py rebuild_generation_counts`. Every test ends by comparing them with a full recount."""

from __future__ import annotations

import importlib
import io
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from generations import actions, dashboard, lifecycle, services, trash
from generations.models import Generation, GenerationStatusCount

S = Generation.Status
COUNTS_MIGRATION = importlib.import_module("generations.migrations.0007_generation_status_counts")


def kept() -> dict[str, tuple[int, int]]:
    """{status: (count, bytes)} as maintained, without the zero rows."""
    return {
        row.status: (row.count, row.video_bytes)
        for row in GenerationStatusCount.objects.all()
        if row.count or row.video_bytes
    }


def recounted() -> dict[str, tuple[int, int]]:
    result: dict[str, tuple[int, int]] = {}
    for status, size in Generation.objects.values_list("status", "video_bytes"):
        count, total = result.get(status, (0, 0))
        result[status] = (count + 1, total + (size or 0))
    return result


def assert_exact() -> None:
    assert kept() == recounted()
    assert dashboard.count_drift() == []


def create(source_image, prompt, user=None) -> Generation:
    return services.generation_create(
        source_image=source_image, prompt=prompt, params=services.GenerationParams(), requested_by=user, submit=False
    )


def complete(generation: Generation, video_bytes: int) -> Generation:
    """pending → submitted → in_progress → archiving → completed, as the pipeline moves it."""
    lifecycle.transition(generation, S.SUBMITTED, fal_request_id=f"req-{generation.pk}")
    lifecycle.transition(generation, S.IN_PROGRESS)
    lifecycle.transition(generation, S.ARCHIVING)
    return lifecycle.transition(
        generation,
        S.COMPLETED,
        video=f"generations/x/{generation.code}.mp4",
        video_sha256="c" * 64,
        video_bytes=video_bytes,
        cost=Decimal("0.2"),
    )


def test_the_triggers_are_installed_by_the_migrations(db):
    assert dashboard.missing_count_triggers() == []


def test_counts_follow_creations_transitions_and_deletions(source_image, prompt, alice):
    assert_exact()
    made = [create(source_image, prompt, alice) for _ in range(12)]
    assert kept() == {S.PENDING: (12, 0)}

    for n, generation in enumerate(made[:6]):
        complete(generation, video_bytes=1_000_000 * (n + 1))
    assert_exact()
    assert dashboard.storage_used() == dashboard.Storage(videos=6, bytes=21_000_000)

    lifecycle.transition(made[6], S.FAILED, error_code="fal_422")
    lifecycle.transition(made[7], S.CANCELLED)
    lifecycle.transition(made[8], S.SUBMITTED, fal_request_id="req-8")
    lifecycle.transition(made[8], S.CANCELLING)
    lifecycle.transition(made[9], S.SUBMITTED, fal_request_id="req-9")
    lifecycle.transition(made[9], S.IN_PROGRESS)
    lifecycle.transition(made[9], S.ARCHIVING)
    lifecycle.transition(made[9], S.FAILED, error_code="archive_failed")
    lifecycle.transition(made[9], S.ARCHIVING)  # an archive tried again: failed → archiving
    assert_exact()

    # A refused move changes nothing.
    with pytest.raises(lifecycle.IllegalTransition):
        lifecycle.transition(made[0], S.SUBMITTED)
    # Trash and restore hide rows from the gallery; they still count.
    trash.move_to_trash([made[0], made[6]], user=alice)
    trash.restore([made[0]])
    # A re-measured video changes the bytes only.
    Generation.objects.filter(pk=made[1].pk).update(video_bytes=5)
    # Deleting: the audited action, a bulk queryset delete, and several statuses at once.
    actions.delete(Generation.objects.get(pk=made[2].pk), user=alice)
    Generation.objects.filter(pk__in=[made[3].pk, made[6].pk, made[7].pk]).delete()
    assert_exact()

    status_counts = {row.status: row.count for row in dashboard.status_counts()}
    assert status_counts == {status: recounted().get(status, (0, 0))[0] for status in S.values}


def test_bulk_writes_and_multi_row_updates_are_counted(source_image, prompt):
    fields = {"source_image": source_image, "prompt": prompt, "prompt_text": prompt.text}
    Generation.objects.bulk_create(
        [Generation(**fields, status=S.PENDING) for _ in range(20)]
        + [
            Generation(**fields, status=S.COMPLETED, video=f"v{n}.mp4", video_sha256="d" * 64, video_bytes=n)
            for n in range(10)
        ]
        + [Generation(**fields, status=S.FAILED) for _ in range(5)]
    )
    assert_exact()
    # One UPDATE moving rows out of two different statuses.
    Generation.objects.filter(status__in=[S.PENDING, S.FAILED]).update(status=S.CANCELLED)
    # One UPDATE changing the bytes of many rows.
    Generation.objects.filter(status=S.COMPLETED).update(video_bytes=None)
    assert_exact()
    assert kept()[S.COMPLETED] == (10, 0)
    Generation.objects.all().delete()
    assert_exact()
    assert kept() == {}


def test_a_rolled_back_change_leaves_the_counts_alone(generation):
    before = kept()
    with pytest.raises(RuntimeError), transaction.atomic():
        lifecycle.transition(generation, S.SUBMITTED, fal_request_id="req-x")
        generation.delete()
        raise RuntimeError("roll back")
    assert kept() == before
    assert_exact()


def test_rebuild_corrects_drift_and_check_reports_it(source_image, prompt):
    for _ in range(3):
        complete(create(source_image, prompt), video_bytes=100)
    GenerationStatusCount.objects.filter(status=S.COMPLETED).update(count=999, video_bytes=1)
    GenerationStatusCount.objects.create(status=S.FAILED, count=4)

    out = io.StringIO()
    with pytest.raises(CommandError, match="not exact"):
        call_command("rebuild_generation_counts", "--check", stdout=out)
    assert "completed: kept 999 (1 bytes), counted 3 (300 bytes)" in out.getvalue()

    out = io.StringIO()
    call_command("rebuild_generation_counts", stdout=out)
    assert "Rebuilt the generation counts." in out.getvalue()
    assert_exact()
    out = io.StringIO()
    call_command("rebuild_generation_counts", "--check", stdout=out)
    assert "match a full recount" in out.getvalue()


def test_rebuild_reinstalls_missing_triggers(source_image, prompt):
    COUNTS_MIGRATION.drop_triggers(connection)
    assert set(dashboard.missing_count_triggers()) == set(dashboard.COUNT_TRIGGERS)
    create(source_image, prompt)  # not counted: no triggers
    assert dashboard.count_drift() != []

    out = io.StringIO()
    call_command("rebuild_generation_counts", stdout=out)
    assert "Re-installed the triggers" in out.getvalue()
    assert dashboard.missing_count_triggers() == []
    assert_exact()
    create(source_image, prompt)  # counted again
    assert_exact()


@pytest.mark.django_db(transaction=True)
def test_counts_stay_exact_under_concurrent_writers(source_image, prompt, alice):
    """Threads (each its own database connection) create, move and delete generations at the
    same time; the increments they make to the same status rows must all land."""
    workers, each = 6, 8
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(each):
                generation = create(source_image, prompt, alice)
                if i % 4 == 0:
                    lifecycle.transition(generation, S.CANCELLED)
                    actions.delete(generation, user=alice)
                elif i % 4 == 1:
                    lifecycle.transition(generation, S.FAILED, error_code="fal_422")
                elif i % 4 == 2:
                    lifecycle.transition(generation, S.SUBMITTED, fal_request_id=f"req-{n}-{i}")
                    lifecycle.transition(generation, S.IN_QUEUE)
                else:
                    complete(generation, video_bytes=1000 + n)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    quarter = workers * each // 4
    assert kept() == {
        S.FAILED: (quarter, 0),
        S.IN_QUEUE: (quarter, 0),
        S.COMPLETED: (quarter, sum((1000 + n) * (each // 4) for n in range(workers))),
    }
    assert_exact()
