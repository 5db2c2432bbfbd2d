"""Users in each role and a factory of generations, for the compare and trash pages."""

from __future__ import annotations

import pytest

from generations.models import Generation
from tests.conftest import T0, generation_rows  # noqa: F401 (T0: tests import it from here)

S = Generation.Status


@pytest.fixture
def make(source_image, prompt):
    """make(created_at=..., status=..., **fields) -> a Generation row (default completed), no task queued."""
    return generation_rows(source_image, prompt, default_status=S.COMPLETED)
