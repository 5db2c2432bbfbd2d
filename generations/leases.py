"""The archive lease: one archiver per generation, and a dead archiver's lease runs out soon.

An archive can take minutes (a large video, a slow storage), so a fixed lease long enough
for the slowest archive would leave a generation untouched for that long after its worker
was killed. Instead the lease is short (ARCHIVE_LEASE_SECONDS) and a live archiver renews
it from a background thread every third of that; when the worker dies the renewals stop,
the lease runs out and the reconcile sweep archives again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from .models import Generation

logger = logging.getLogger(__name__)


def lease_expiry():
    return timezone.now() + timedelta(seconds=settings.ARCHIVE_LEASE_SECONDS)


def claim(generation_id: int, owner: str) -> bool:
    """Take the archive lease if it is free, expired, or already `owner`'s (a redelivered task)."""
    now = timezone.now()
    free = Q(archive_lease_until__isnull=True) | Q(archive_lease_until__lt=now) | Q(archive_lease_owner=owner)
    return bool(
        Generation.objects.filter(free, pk=generation_id, status=Generation.Status.ARCHIVING).update(
            archive_lease_until=lease_expiry(),
            archive_lease_owner=owner,
            archive_attempts=F("archive_attempts") + 1,
            updated_at=now,
        )
    )


def release(generation_id: int, owner: str) -> None:
    Generation.objects.filter(pk=generation_id, archive_lease_owner=owner).update(archive_lease_until=None)


def renew(generation_id: int, owner: str) -> bool:
    """Push the lease's end out again; False when it is no longer ours (or no longer archiving).

    `updated_at` is left alone on purpose: the reconcile sweep reads it as "when the
    archive started", not "when it was last seen alive"."""
    return bool(
        Generation.objects.filter(
            pk=generation_id, status=Generation.Status.ARCHIVING, archive_lease_owner=owner
        ).update(archive_lease_until=lease_expiry())
    )


@contextmanager
def kept_alive(generation_id: int, owner: str) -> Iterator[None]:
    """Renew the lease in a background thread while the block runs."""
    stop = threading.Event()
    interval = max(settings.ARCHIVE_LEASE_SECONDS / 3, 0.2)

    def renew_until_stopped() -> None:
        try:
            while not stop.wait(interval):
                if not renew(generation_id, owner):
                    logger.warning("Archive lease of generation %s was lost to another archiver", generation_id)
                    return
        except Exception:
            # A database hiccup: the lease may run out and another archiver take over,
            # which costs a second download, never a second video.
            logger.warning("Could not renew the archive lease of generation %s", generation_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=renew_until_stopped, name=f"archive-lease-{generation_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
