"""CSRF: every route refuses a POST without a token, except fal's webhook, which is signed instead.

The client here enforces CSRF as a browser meets it (Django's test client skips the check by default).
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client
from django.urls import get_resolver

from generations.models import Favourite, Generation
from tests.pipeline.test_webhook_view import PRIVATE_KEY, _jwks, ok_payload, signed_post
from tests.security.test_access import fill, no_workers, routes, snapshot, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def csrf_client(superuser):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    return client


def csrf_exempt_routes() -> set[str]:
    def walk(patterns):
        for entry in patterns:
            if hasattr(entry, "url_patterns"):
                yield from walk(entry.url_patterns)
            elif getattr(entry.callback, "csrf_exempt", False):
                yield entry.name

    return set(walk(get_resolver().url_patterns))


def test_only_the_webhook_is_csrf_exempt():
    assert csrf_exempt_routes() == {"fal-webhook"}


def refused_for_csrf(response) -> bool:
    return response.status_code == 403 and b"CSRF verification failed" in response.content


def test_every_post_without_a_token_is_refused(world, csrf_client, no_workers):  # noqa: F811
    before = snapshot()
    posted = 0
    for route, name in routes():
        if name == "fal-webhook":
            continue
        url = fill(route, world)
        response = csrf_client.post(url, {"action": "trash", "codes": [str(world["completed"].code)]})
        assert refused_for_csrf(response), f"POST {url} ({name}): {response.status_code}"
        posted += 1
    assert posted > 80
    # The login pages too (login CSRF), for a stranger.
    for url in ("/login/", "/admin/login/"):
        stranger = Client(enforce_csrf_checks=True)
        assert refused_for_csrf(stranger.post(url, {"username": "root", "password": "root-password"}))
        assert "_auth_user_id" not in stranger.session
    assert snapshot() == before


def test_the_same_post_with_the_token_goes_through(world, csrf_client):  # noqa: F811
    code = world["completed"].code
    csrf_client.get(f"/generations/{code}/")  # the page sets the csrftoken cookie its forms use
    token = csrf_client.cookies["csrftoken"].value
    url = f"/generations/{code}/favourite/"
    assert refused_for_csrf(csrf_client.post(url, {"favourite": "1"}))
    assert not Favourite.objects.filter(user__username="root").exists()
    response = csrf_client.post(url, {"favourite": "1", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Favourite.objects.filter(user__username="root", generation__code=code).exists()


@pytest.fixture
def published_keys(settings):
    settings.FAL_KEY, settings.FAL_SIMULATED = "test-key", False
    with mock.patch("generations.fal_webhooks._fetch_jwks", autospec=True, return_value=_jwks(PRIVATE_KEY)):
        yield


def test_the_webhook_needs_no_csrf_token_but_a_signature(published_keys, generation):
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.IN_PROGRESS, fal_request_id="req-csrf")
    client = Client(enforce_csrf_checks=True)
    with mock.patch("generations.pipeline._schedule_archive", autospec=True) as archive:
        response = signed_post(client, ok_payload("req-csrf"))
    assert response.status_code == 200, response.content
    assert response.json() == {"result": "archiving"}
    archive.assert_called_once()
    unsigned = client.post("/webhooks/fal", data=b'{"request_id": "req-csrf"}', content_type="application/json")
    assert unsigned.status_code == 401
    forged = signed_post(client, ok_payload("req-csrf"), tamper=True)
    assert forged.status_code == 401
