"""The gallery's fixtures (users in each role, the generation factory), plus a collection."""

from __future__ import annotations

import pytest

from generations import library
from tests.gallery.conftest import (  # noqa: F401  (fixtures)
    T0,
    S,
    completed_with_files,
    image_b,
    make,
)


@pytest.fixture
def collection(db, viewer):
    return library.collection_create(name="Client delivery", owner=viewer)
