"""The one place where a generation's status changes.

Every move is a conditional UPDATE (`filter(pk=…, status__in=allowed).update(…)`):
the database decides, atomically, whether the row is still in a state the move
is allowed from. Two workers, or a worker and a webhook, racing for the same
move therefore see exactly one winner; the loser gets IllegalTransition and
does nothing. No move goes backwards and ended generations stay ended, except
that a failed archive of a finished fal request may be archived again
(failed → archiving): the video was paid for, so it must never be lost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from . import ledger
from .models import Generation

S = Generation.Status

# target status → the statuses it may be entered from.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    S.SUBMITTED: frozenset({S.PENDING}),
    S.IN_QUEUE: frozenset({S.SUBMITTED}),
    S.IN_PROGRESS: frozenset({S.SUBMITTED, S.IN_QUEUE}),
    # fal finished (possibly after we asked it to cancel: a running request may still finish,
    # and a paid video is kept); or an archive that failed is tried again.
    S.ARCHIVING: frozenset({S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS, S.CANCELLING, S.FAILED}),
    S.COMPLETED: frozenset({S.ARCHIVING}),
    S.FAILED: frozenset({S.PENDING, S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS, S.ARCHIVING, S.CANCELLING}),
    S.CANCELLING: frozenset({S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS}),
    S.CANCELLED: frozenset({S.PENDING, S.CANCELLING}),
}

# Timestamps stamped on entering a status, kept if already set (Coalesce).
_STAMPS: dict[str, tuple[str, ...]] = {
    S.SUBMITTED: ("submitted_at",),
    S.IN_PROGRESS: ("started_at",),
    S.ARCHIVING: ("finished_at",),
    S.COMPLETED: ("archived_at",),
    S.FAILED: ("finished_at",),
    S.CANCELLED: ("finished_at",),
}


# Settling the money when a generation ends (see Generation.cost). A completed one is
# settled by its caller, with the price of the video fal actually delivered.
_NOTHING = Value(Decimal(0))
_SETTLEMENTS: dict[str, dict[str, Any]] = {
    S.FAILED: {"cost": _NOTHING, "cost_note": Value("")},
    S.CANCELLED: {
        # fal may bill a request that a runner had already started.
        "cost": Case(When(started_at__isnull=True, then=_NOTHING), default=F("cost")),
        "cost_note": Case(
            When(started_at__isnull=True, then=Value("")),
            default=Value("May be charged: cancelled while fal was already running it."),
        ),
    },
}


# Moves after which the cost may have changed: the spend ledger is brought up to date.
_SETTLES = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED})


class IllegalTransition(Exception):
    """The generation is not in a state that the requested move is allowed from."""

    def __init__(self, generation: Generation, target: str, current: str | None):
        self.generation_code = generation.code
        self.target = target
        self.current = current
        if current is None:
            message = f"Generation {generation.code} no longer exists; cannot move it to {target}."
        else:
            allowed = ", ".join(sorted(ALLOWED_FROM[target]))
            message = f"Generation {generation.code} is {current}; it cannot move to {target} (only from: {allowed})."
        super().__init__(message)


def can_transition(current: str, target: str) -> bool:
    return current in ALLOWED_FROM.get(target, ())


def transition(generation: Generation, target: str, **fields: Any) -> Generation:
    """Move `generation` to `target`, setting `fields` in the same UPDATE.

    Raises IllegalTransition, and changes nothing, when the row's current status
    (read by the UPDATE itself, not from the in-memory object) does not allow it.
    On success the in-memory object is refreshed from the database.
    """
    if target not in ALLOWED_FROM:
        raise ValueError(f"{target!r} is not a status that can be entered.")
    values: dict[str, Any] = {"status": target, "updated_at": timezone.now(), **fields}
    for stamp in _STAMPS.get(target, ()):
        values.setdefault(stamp, Coalesce(stamp, Now()))
    for name, value in _SETTLEMENTS.get(target, {}).items():
        values.setdefault(name, value)
    settles = target in _SETTLES or "cost" in fields
    with transaction.atomic():
        updated = Generation.objects.filter(pk=generation.pk, status__in=ALLOWED_FROM[target]).update(**values)
        if updated != 1:
            current = Generation.objects.filter(pk=generation.pk).values_list("status", flat=True).first()
            raise IllegalTransition(generation, target, current)
        generation.refresh_from_db()
        if settles:
            ledger.settle(generation)  # in the same transaction: the ledger never misses a change
    return generation


def record_progress(generation: Generation, **fields: Any) -> bool:
    """Store queue position / logs of a request that is still in flight.

    Returns False (and writes nothing) when the generation has moved on meanwhile,
    so a late status reply can never overwrite a finished generation.
    """
    updated = Generation.objects.filter(pk=generation.pk, status__in=Generation.IN_FLIGHT).update(
        updated_at=timezone.now(), **fields
    )
    return updated == 1
