"""/healthz: reachable without login, says which part fails, never shows a secret."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_all_parts_reachable(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "storage": True,
    }
    assert response["Cache-Control"] == "no-store"


def test_an_unreachable_broker_is_a_503_without_its_password(client, settings):
    settings.CELERY_BROKER_URL = "redis://:sup3r-secret-pw@127.0.0.1:9/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert "sup3r-secret-pw" not in response.content.decode()


def test_healthz_is_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get(reverse("healthz")).status_code == 200
    assert client.get("/login/").status_code == 301


def test_post_is_not_allowed(client):
    assert client.post(reverse("healthz")).status_code == 405
