"""The spend ledger: every change of a generation's cost, written once, read by budgets,
the dashboard and the spend CSV.

A generation's `cost` is what counts against the budgets: its estimate while it runs, its
settled price when it ends (generations.lifecycle). Each change of it adds one SpendEntry in
the same transaction: a reservation when it is requested, then a settlement (or a refund)
for the difference. The lines of a generation always add up to its cost, and they stay when
the generation is deleted or purged, so money spent is never erased.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Sum

from .models import Generation, SpendEntry

Kind = SpendEntry.Kind
_ZERO = Decimal(0)


def _line(generation: Generation, kind: str, amount: Decimal, note: str, *, names: dict, inputs: dict) -> SpendEntry:
    return SpendEntry.objects.create(
        kind=kind,
        amount=amount,
        generation_id=generation.pk,
        generation_code=generation.code,
        requested_by_id=generation.requested_by_id,
        batch_id=generation.batch_id,
        requested_at=generation.created_at,
        inputs=inputs,
        note=note[:200],
        **names,
    )


def _inputs(generation: Generation) -> dict:
    return {
        "prompt": generation.prompt_text,
        "source_image": str(generation.source_image.code),
        "source_sha256": generation.source_image.sha256,
        "model": generation.model_id,
        "resolution": generation.resolution,
        "aspect_ratio": generation.aspect_ratio,
        "duration": generation.duration,
        "seed": generation.seed,
        "camera_fixed": generation.camera_fixed,
        "enable_safety_checker": generation.enable_safety_checker,
    }


def reserve(generation: Generation) -> SpendEntry:
    """The reservation of a new generation's estimate, with its inputs (call inside its transaction)."""
    user, batch = generation.requested_by, generation.batch
    names = {
        "requested_by_name": user.get_username() if user is not None else "",
        "batch_code": batch.code if batch is not None else None,
    }
    return _line(
        generation, Kind.RESERVATION, generation.cost, "Estimate reserved.", names=names, inputs=_inputs(generation)
    )


def recorded(generation: Generation) -> Decimal:
    """What the ledger holds for this generation (the sum of its lines)."""
    return SpendEntry.objects.filter(generation_code=generation.code).aggregate(s=Sum("amount"))["s"] or _ZERO


def settle(generation: Generation) -> SpendEntry | None:
    """Bring the ledger to the generation's current cost: one line for the difference, if any.

    Call in the transaction that changed the cost, after it (lifecycle.transition does)."""
    difference = generation.cost - recorded(generation)
    if not difference:
        return None
    names = (
        SpendEntry.objects.filter(generation_code=generation.code)
        .values("requested_by_name", "batch_code")
        .order_by("id")
        .first()
    ) or {"requested_by_name": "", "batch_code": None}
    kind = Kind.REFUND if generation.cost == 0 else Kind.SETTLEMENT
    note = generation.cost_note or f"Settled at ${generation.cost:.4f} ({generation.get_status_display().lower()})."
    return _line(generation, kind, difference, note, names=names, inputs={})


def spent_since(since: datetime, *, user: AbstractBaseUser | None = None) -> Decimal:
    """Money committed by generations requested since `since` (reserved or settled), deleted ones included."""
    lines = SpendEntry.objects.filter(requested_at__gte=since)
    if user is not None:
        lines = lines.filter(requested_by=user)
    return lines.aggregate(total=Sum("amount"))["total"] or _ZERO


# One reservation line, with the inputs, for every generation that has none: generations made
# before the ledger existed (migration 0011 carries them over) or bulk-loaded by seed_bench.
_CARRY_OVER = """
INSERT INTO generations_spendentry
    (kind, amount, generation_id, generation_code, requested_by_id, requested_by_name, batch_id, batch_code,
     requested_at, inputs, note, created_at)
SELECT 'reservation', g.cost, g.id, g.code, g.requested_by_id, COALESCE(u.username, ''), g.batch_id, b.code,
       g.created_at, {inputs}, 'Carried over: the cost when the ledger began.', g.created_at
FROM generations_generation g
LEFT JOIN {users} u ON u.id = g.requested_by_id
LEFT JOIN generations_batch b ON b.id = g.batch_id
WHERE NOT EXISTS (SELECT 1 FROM generations_spendentry s WHERE s.generation_code = g.code)
"""
_INPUTS = (
    "'prompt', g.prompt_text, 'resolution', g.resolution, 'aspect_ratio', g.aspect_ratio, "
    "'duration', g.duration, 'seed', g.seed, 'model', g.model_id"
)


def carry_over(connection) -> int:
    """Give every generation without ledger lines its reservation line (its current cost). Idempotent."""
    from django.contrib.auth import get_user_model

    build = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
    sql = _CARRY_OVER.format(inputs=f"{build}({_INPUTS})", users=get_user_model()._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.rowcount
