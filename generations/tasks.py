"""Celery tasks: thin adapters that refetch by id and call the domain layer."""

from __future__ import annotations

import socket

from celery import shared_task
from django.db import connection

from .models import Generation


@shared_task(name="generations.ping", acks_late=False)
def ping() -> dict:
    """A round trip through the broker: proves a worker runs and reaches the database."""
    return {
        "worker": socket.gethostname(),
        "database": connection.vendor,
        "generations": Generation.objects.count(),
    }
