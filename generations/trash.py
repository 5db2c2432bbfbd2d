"""The trash: deleting from the gallery hides a generation, restorable for
TRASH_RETENTION_DAYS; `manage.py purge_trash` then deletes it for good (with its
archived files, through actions.delete, so each deletion is audited)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from . import actions
from .models import Generation

logger = logging.getLogger(__name__)


@dataclass
class TrashReport:
    moved: list[Generation] = field(default_factory=list)
    skipped: list[tuple[Generation, str]] = field(default_factory=list)


def move_to_trash(generations: Iterable[Generation], *, user: AbstractBaseUser | None) -> TrashReport:
    """Trash ended generations; unfinished ones are skipped with a reason (cancel them first)."""
    report = TrashReport()
    now = timezone.now()
    for generation in generations:
        if generation.trashed_at is not None:
            report.skipped.append((generation, "already in the trash"))
        elif generation.status not in Generation.ENDS:
            report.skipped.append((generation, f"still {generation.get_status_display().lower()}; cancel it first"))
        else:
            Generation.objects.filter(pk=generation.pk, trashed_at__isnull=True).update(
                trashed_at=now, trashed_by=user if user and user.is_authenticated else None
            )
            report.moved.append(generation)
    return report


def restore(generations: Iterable[Generation]) -> int:
    pks = [g.pk for g in generations]
    return Generation.objects.filter(pk__in=pks, trashed_at__isnull=False).update(trashed_at=None, trashed_by=None)


def expiry(trashed_at: datetime) -> datetime:
    return trashed_at + timedelta(days=settings.TRASH_RETENTION_DAYS)


@dataclass
class PurgeReport:
    deleted: int = 0
    failed: int = 0


def purge(*, now: datetime | None = None, everything: bool = False) -> PurgeReport:
    """Delete trashed generations older than the retention period (or all of them)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRASH_RETENTION_DAYS)
    due = Generation.objects.filter(trashed_at__isnull=False)
    if not everything:
        due = due.filter(trashed_at__lt=cutoff)
    report = PurgeReport()
    for generation in due.iterator():
        try:
            actions.delete(generation, user=None)
            report.deleted += 1
        except Exception:
            logger.exception("Could not purge generation %s", generation.code)
            report.failed += 1
    return report
