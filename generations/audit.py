"""The audit trail: one row per action that spends, stops or removes something."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser

from .models import AuditEvent, Batch, Generation

Action = AuditEvent.Action


def record(
    action: str,
    *,
    actor: AbstractBaseUser | None,
    message: str,
    generation: Generation | None = None,
    batch: Batch | None = None,
    cost: Decimal | int = 0,
    **details,
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        generation=generation,
        generation_code=generation.code if generation else None,
        batch=batch or (generation.batch if generation else None),
        cost=cost,
        message=message,
        details=details,
    )
