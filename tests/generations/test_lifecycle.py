"""Status transitions: every legal and illegal move, and racing movers."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import connection

from generations import lifecycle
from generations.lifecycle import ALLOWED_FROM, IllegalTransition, transition
from generations.models import Generation

S = Generation.Status
ALL = list(S.values)
LEGAL = sorted((src, dst) for dst, sources in ALLOWED_FROM.items() for src in sources)
ILLEGAL = sorted((src, dst) for src, dst in itertools.product(ALL, ALL) if (src, dst) not in LEGAL)


def _force_status(generation: Generation, status: str) -> None:
    Generation.objects.filter(pk=generation.pk).update(status=status, video="v.mp4", video_sha256="b" * 64)


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), LEGAL)
def test_legal_transition_moves_and_stamps(generation, source, target):
    _force_status(generation, source)
    transition(generation, target)
    assert generation.status == target
    stamps = {
        S.SUBMITTED: "submitted_at",
        S.IN_PROGRESS: "started_at",
        S.ARCHIVING: "finished_at",
        S.COMPLETED: "archived_at",
        S.FAILED: "finished_at",
        S.CANCELLED: "finished_at",
    }
    if target in stamps:
        assert getattr(generation, stamps[target]) is not None


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_illegal_transition_raises_and_changes_nothing(generation, source, target):
    _force_status(generation, source)
    before = Generation.objects.get(pk=generation.pk)
    if target == S.PENDING:
        with pytest.raises(ValueError, match="is not a status that can be entered"):
            transition(generation, target)
    else:
        with pytest.raises(IllegalTransition, match=f"is {source}; it cannot move to {target}"):
            transition(generation, target, error_message="should not be written")
    after = Generation.objects.get(pk=generation.pk)
    assert (after.status, after.error_message, after.updated_at) == (
        before.status,
        before.error_message,
        before.updated_at,
    )


@pytest.mark.django_db
def test_the_database_decides_not_the_stale_object(generation):
    stale = Generation.objects.get(pk=generation.pk)
    transition(generation, S.SUBMITTED, fal_request_id="req-9")
    # `stale` still says pending in memory, but the row is submitted: a second submit loses.
    with pytest.raises(IllegalTransition):
        transition(stale, S.SUBMITTED, fal_request_id="req-10")
    assert Generation.objects.get(pk=generation.pk).fal_request_id == "req-9"


@pytest.mark.django_db
def test_first_stamp_is_kept(generation):
    transition(generation, S.SUBMITTED)
    transition(generation, S.IN_PROGRESS)
    started = generation.started_at
    transition(generation, S.ARCHIVING)
    transition(generation, S.FAILED, error_code="archive_failed")
    transition(generation, S.ARCHIVING)  # archive again: the paid video is never given up
    assert generation.started_at == started


@pytest.mark.django_db
def test_progress_is_not_written_once_the_generation_moved_on(generation):
    transition(generation, S.SUBMITTED)
    assert lifecycle.record_progress(generation, queue_position=3)
    _force_status(generation, S.COMPLETED)
    assert not lifecycle.record_progress(generation, queue_position=1)
    assert Generation.objects.get(pk=generation.pk).queue_position == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("target", [S.ARCHIVING, S.FAILED])
def test_two_concurrent_movers_have_exactly_one_winner(generation, target):
    """Two threads (two database connections) race for the same move; one wins, one is refused."""
    transition(generation, S.SUBMITTED)
    transition(generation, S.IN_PROGRESS)
    racers = 8
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def mover(n: int) -> None:
        try:
            mine = Generation.objects.get(pk=generation.pk)
            barrier.wait(timeout=10)
            try:
                transition(mine, target, error_message=f"racer {n}")
                result = "won"
            except IllegalTransition:
                result = "lost"
            with lock:
                outcomes.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=mover, args=(n,)) for n in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["lost"] * (racers - 1) + ["won"]
    row = Generation.objects.get(pk=generation.pk)
    assert row.status == target
    assert row.error_message.startswith("racer ")
