"""A round trip through the real broker to a real worker process that reads the test database."""

from __future__ import annotations

import pytest
from django.db import connection

from generations.tasks import ping

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_task_round_trip_reaches_the_database(basic_worker, generation):
    result = ping.delay().get(timeout=30)
    assert result["database"] == connection.vendor
    # The worker sees the row this test committed: same database, not a copy.
    assert result["generations"] == 1
    assert basic_worker.poll() is None
