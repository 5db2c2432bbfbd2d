"""Which way a source image travels to fal (issue 11, item 10): `auto` never picks a data URI.

The end-to-end test (tests/pipeline/test_end_to_end.py) sends each mode to the simulator;
here is the choice itself.
"""

from __future__ import annotations

import base64
import io
from unittest import mock

import pytest
from django.core.files.storage import default_storage

from generations import image_transport, services
from tests.conftest import make_image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_image(db):
    """A few kilobytes: what `auto` used to send inline."""
    image, _ = services.source_image_ingest(file=io.BytesIO(make_image_bytes()), filename="small.png")
    assert image.size_bytes < 10_000
    return image


def test_auto_uploads_to_fal_even_a_small_image_without_s3(settings, small_image):
    settings.FAL_IMAGE_TRANSPORT = "auto"
    settings.FAL_DATA_URI_MAX_BYTES = 2 * 1024 * 1024
    assert image_transport.choose_mode(small_image) == "upload"
    with mock.patch("generations.fal_gateway.upload", autospec=True, return_value="https://fal.media/x.png") as up:
        assert image_transport.image_url_for_fal(small_image) == "https://fal.media/x.png"
    assert up.call_args.kwargs["content_type"] == "image/png"


def test_auto_presigns_with_s3_storage(settings, small_image):
    settings.FAL_IMAGE_TRANSPORT = "auto"
    with mock.patch.object(image_transport, "_storage_is_s3", return_value=True):
        assert image_transport.choose_mode(small_image) == "presigned"


def test_data_uri_is_sent_only_when_asked_for(settings, small_image):
    settings.FAL_IMAGE_TRANSPORT = "data_uri"
    url = image_transport.image_url_for_fal(small_image)
    with default_storage.open(small_image.file.name, "rb") as fh:
        assert url == "data:image/png;base64," + base64.b64encode(fh.read()).decode()


def test_an_explicit_data_uri_larger_than_its_limit_is_refused(settings, small_image):
    settings.FAL_IMAGE_TRANSPORT = "data_uri"
    settings.FAL_DATA_URI_MAX_BYTES = small_image.size_bytes - 1
    with pytest.raises(ValueError, match="FAL_IMAGE_TRANSPORT=data_uri sends images of at most FAL_DATA_URI_MAX_BYTES"):
        image_transport.image_url_for_fal(small_image)
    settings.FAL_DATA_URI_MAX_BYTES = small_image.size_bytes
    assert image_transport.choose_mode(small_image) == "data_uri"


@pytest.mark.parametrize(("mode", "error"), [("presigned", "needs S3 storage"), ("inline", "must be one of")])
def test_impossible_modes_are_refused(settings, small_image, mode, error):
    settings.FAL_IMAGE_TRANSPORT = mode
    with pytest.raises(ValueError, match=error):
        image_transport.choose_mode(small_image)
