"""Celery tasks: thin adapters that take a generation id and call the pipeline.

Every task is idempotent (the pipeline claims its work in the database), so the
settings acknowledge late and redeliver the tasks of a worker that died.
"""

from __future__ import annotations

import random
import socket

from celery import shared_task
from django.db import connection

from . import pipeline
from .models import Generation


def _retry(task, exc: pipeline.RetryLater):
    # Jitter spreads out retries of many generations failing at once (a fal outage).
    countdown = exc.countdown * random.uniform(0.75, 1.25)  # noqa: S311 (not cryptographic)
    raise task.retry(exc=exc, countdown=countdown)


# max_retries=None: unbounded for Celery (its default would give up after 3 and leave the
# generation pending); the pipeline bounds its own attempts (FAL_SUBMIT_MAX_RETRIES,
# ARCHIVE_MAX_ATTEMPTS) and then fails the generation with a reason.
@shared_task(bind=True, name="generations.submit", max_retries=None)
def submit_generation(self, generation_id: int) -> None:
    try:
        pipeline.submit(generation_id, attempt=self.request.retries + 1)
    except pipeline.RetryLater as exc:
        _retry(self, exc)


@shared_task(name="generations.poll")
def poll_generation(generation_id: int) -> None:
    pipeline.poll(generation_id)


@shared_task(bind=True, name="generations.archive", max_retries=None)
def archive_generation(self, generation_id: int) -> None:
    try:
        pipeline.archive(generation_id, owner=self.request.id or "")
    except pipeline.RetryLater as exc:
        _retry(self, exc)


@shared_task(name="generations.reconcile")
def reconcile() -> str:
    return str(pipeline.reconcile())


@shared_task(name="generations.ping", acks_late=False)
def ping() -> dict:
    """A round trip through the broker: proves a worker runs and reaches the database."""
    return {
        "worker": socket.gethostname(),
        "database": connection.vendor,
        "generations": Generation.objects.count(),
    }


# --- Large exports (generations/exports.py) ----------------------------------------


@shared_task(bind=True, name="generations.export", max_retries=None)
def export_job(self, job_id: int) -> None:
    from . import exports

    try:
        exports.export_run(job_id)
    except exports.ExportBusy as exc:  # another run holds it: look again when its lease ends
        raise self.retry(exc=exc, countdown=exc.countdown) from None
