"""Security headers with DEBUG off: what the production settings turn on, and what responses carry.

The Content-Security-Policy (django-csp) has tests of its own: test_content_security_policy.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.security.test_access import no_workers, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

PROBE = """
import json, django
from django.conf import settings as s
django.setup()
print(json.dumps({name: getattr(s, name) for name in [
    "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY", "X_FRAME_OPTIONS", "SECURE_PROXY_SSL_HEADER", "SECURE_REDIRECT_EXEMPT",
]}))
"""


def test_production_settings_turn_every_protection_on(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "seedance_studio.settings",
        "SEEDANCE_ENV_FILE": "",
        "SEEDANCE_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-enough-0123456789-abcdefghijkl",
        "ALLOWED_HOSTS": "studio.example.com",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_REDIRECT_EXEMPT": ["^healthz$"],
    }


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


def assert_protective_headers(response, where: str) -> None:
    assert response["X-Content-Type-Options"] == "nosniff", where
    assert response["Referrer-Policy"] == "same-origin", where
    assert response["X-Frame-Options"] == "DENY", where
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", where


def test_every_kind_of_response_carries_the_headers(production, viewer, world):  # noqa: F811
    client = Client(HTTP_X_FORWARDED_PROTO="https")  # as the TLS-terminating proxy says
    pages = ["/login/", "/admin/login/", "/healthz"]
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 503), url
        assert_protective_headers(response, url)
        assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload", url
    client.force_login(viewer)
    completed = world["completed"]
    for url in ["/", f"/generations/{completed.code}/", f"/media/{completed.video.name}"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_protective_headers(response, url)
        assert "Strict-Transport-Security" in response, url
    refused = Client(HTTP_X_FORWARDED_PROTO="https").post("/webhooks/fal", data=b"{}", content_type="application/json")
    assert refused.status_code == 401
    assert_protective_headers(refused, "the webhook's 401")


def test_plain_http_is_redirected_except_the_health_check(production):
    client = Client()
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"] == "https://testserver/login/"
    assert "Strict-Transport-Security" not in response  # HSTS is only ever sent over HTTPS
    assert client.get("/healthz").status_code in (200, 503)  # load balancers probe over plain HTTP


def test_cookies_are_secure_http_only_and_same_site(production, viewer):
    client = Client(HTTP_X_FORWARDED_PROTO="https")
    login_page = client.get("/login/")
    csrf = login_page.cookies["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    response = client.post("/login/", {"username": "vera", "password": "vera-password"})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
