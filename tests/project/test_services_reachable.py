"""The run uses the services it was configured with, and fails (never skips) when one is down."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from kombu import Connection

from seedance_studio.celery import app as celery_app


@pytest.mark.django_db
def test_database_is_the_configured_one():
    configured = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if configured.startswith(("postgres", "postgresql")) else "sqlite"
    assert connection.vendor == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone()[0] == 1


def test_broker_is_the_configured_one_and_reachable():
    configured = os.environ.get("CELERY_BROKER_URL", "filesystem://")
    assert celery_app.conf.broker_url == configured
    with Connection(configured, transport_options=celery_app.conf.broker_transport_options) as conn:
        conn.ensure_connection(max_retries=2, interval_start=0.5)
        assert conn.connected
