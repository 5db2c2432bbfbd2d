"""The gallery's fixtures (users in each role, the generation factory), plus a collection."""

from __future__ import annotations

import pytest

from generations import library
from tests.gallery.conftest import (  # noqa: F401  (fixtures)
    T0,
    S,
    completed_with_files,
    generator,
    generator_client,
    image_b,
    make,
    viewer,
    viewer_client,
)


@pytest.fixture
def collection(db, viewer):  # noqa: F811  (the imported fixture)
    return library.collection_create(name="Client delivery", owner=viewer)
