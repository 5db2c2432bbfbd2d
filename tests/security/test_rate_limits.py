"""Rate limits on logging in (the gallery's and the admin's login) and on uploading source images.

Counts live in the configured cache (a file cache here, Redis in CI); tests/conftest.py empties
it before each test. The clock stands still (time-machine) so a test never straddles the edge of
a counting window, and the end of a lock is reached by moving it, not by sleeping.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from generations import ratelimits
from generations.models import SourceImage
from tests.conftest import make_image_bytes

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


@pytest.fixture
def limits(settings):
    settings.RATELIMIT_ENABLE = True
    settings.LOGIN_FAILURE_LIMIT = "5/15m"
    settings.LOGIN_FAILURE_LIMIT_PER_IP = "30/15m"
    settings.UPLOAD_LIMIT = "6/h"
    settings.TRUSTED_PROXY_COUNT = 0
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # many logins, fast
    return settings


@pytest.fixture
def staff_viewer(django_user_model):
    from tests.conftest import team_member

    return team_member(django_user_model, "sam", "viewer", is_staff=True)


def login(client, page, username, password, **extra):
    return client.post(page, {"username": username, "password": password}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, page, username, times, **extra):
    for attempt in range(times):
        response = login(client, page, username, "wrong-password", **extra)
        assert response.status_code == 200, f"attempt {attempt + 1} was refused early"
        assert not logged_in(client)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_five_failures_lock_the_login_with_429_and_a_wait_in_words(limits, client, staff_viewer, page, caplog):
    fail(client, page, "sam", 5)
    with caplog.at_level(logging.WARNING, logger="generations.ratelimits"):
        response = login(client, page, "sam", "sam-password")  # the right password, during the lockout
    assert response.status_code == 429
    assert not logged_in(client)
    text = response.content.decode()
    assert "Too many login attempts" in text
    assert "Try again in 15 minutes." in text
    assert int(response["Retry-After"]) == 15 * 60
    assert "no-store" in response["Cache-Control"]
    assert "Refused a login for 'sam' from 127.0.0.1" in caplog.text
    assert "sam-password" not in caplog.text and "wrong-password" not in caplog.text


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_successful_logins_are_not_counted(limits, staff_viewer, page):
    for _ in range(8):
        client = Client()
        response = login(client, page, "sam", "sam-password")
        assert response.status_code == 302
        assert logged_in(client)
    client = Client()
    fail(client, page, "sam", 4)  # four failures after eight successes: still allowed
    assert login(client, page, "sam", "sam-password").status_code == 302


def test_the_two_login_pages_share_one_count(limits, client, staff_viewer):
    fail(client, "/login/", "sam", 3)
    fail(client, "/admin/login/", "sam", 2)
    assert login(client, "/login/", "sam", "sam-password").status_code == 429
    assert login(client, "/admin/login/", "sam", "sam-password").status_code == 429


def test_the_lock_is_per_username_and_address(limits, client, staff_viewer, viewer):
    fail(client, "/login/", "sam", 5)
    assert login(client, "/login/", "sam", "sam-password").status_code == 429
    # Another account from the same address, and the same account from elsewhere, still log in.
    assert login(Client(), "/login/", "vera", "vera-password").status_code == 302
    elsewhere = Client(REMOTE_ADDR="203.0.113.9")
    assert login(elsewhere, "/login/", "sam", "sam-password").status_code == 302
    # Case and spaces do not make a new username.
    assert login(client, "/login/", " SAM ", "sam-password").status_code == 429


def test_the_per_address_cap_covers_every_username(limits, client, staff_viewer):
    limits.LOGIN_FAILURE_LIMIT_PER_IP = "8/15m"
    for n in range(8):
        assert login(client, "/login/", f"guess-{n}", "x").status_code == 200
    assert login(client, "/login/", "sam", "sam-password").status_code == 429
    assert login(Client(REMOTE_ADDR="198.51.100.7"), "/login/", "sam", "sam-password").status_code == 302


def test_the_lock_lasts_its_period_then_ends(limits, client, staff_viewer, clock):
    fail(client, "/login/", "sam", 5)
    response = login(client, "/login/", "sam", "sam-password")
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 15 * 60
    clock.shift(timedelta(minutes=14))
    response = login(client, "/login/", "sam", "sam-password")
    assert response.status_code == 429 and "Try again in 1 minute." in response.content.decode()
    clock.shift(timedelta(seconds=int(response["Retry-After"]) + 1))
    assert login(client, "/login/", "sam", "sam-password").status_code == 302


def test_a_locked_page_still_shows_the_form(limits, client, staff_viewer):
    fail(client, "/login/", "sam", 5)
    assert client.get("/login/").status_code == 200
    assert client.get("/admin/login/").status_code == 200


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(limits, staff_viewer):
    # Without a trusted proxy a client cannot dodge the lock by inventing addresses.
    client = Client()
    for n in range(5):
        login(client, "/login/", "sam", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert login(client, "/login/", "sam", "sam-password", HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429

    # Behind one trusted proxy the client is the address the proxy appended (the last one);
    # whatever the client wrote before it is ignored.
    limits.TRUSTED_PROXY_COUNT = 1
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    for n in range(5):
        login(proxy, "/login/", "sam", "wrong", HTTP_X_FORWARDED_FOR=f"spoofed-{n}, 198.51.100.20")
    locked = login(proxy, "/login/", "sam", "sam-password", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.20")
    assert locked.status_code == 429
    other = login(proxy, "/login/", "sam", "sam-password", HTTP_X_FORWARDED_FOR="198.51.100.21")
    assert other.status_code == 302


def test_client_ip(rf, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert ratelimits.client_ip(request) == "192.0.2.1"
    settings.TRUSTED_PROXY_COUNT = 2
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5, 10.0.0.9")
    assert ratelimits.client_ip(request) == "203.0.113.5"
    request = rf.get("/", REMOTE_ADDR="2001:db8::1")
    assert ratelimits.client_ip(request) == "2001:db8::"  # the /64


def test_wait_words():
    assert ratelimits.wait_words(1) == "1 second"
    assert ratelimits.wait_words(40) == "40 seconds"
    assert ratelimits.wait_words(60) == "1 minute"
    assert ratelimits.wait_words(61) == "2 minutes"
    assert ratelimits.wait_words(899) == "15 minutes"
    assert ratelimits.wait_words(3600) == "1 hour"
    assert ratelimits.wait_words(3900) == "1 hour 5 minutes"


def test_limits_can_be_turned_off(limits, client, staff_viewer):
    limits.RATELIMIT_ENABLE = False
    fail(client, "/login/", "sam", 7)
    assert login(client, "/login/", "sam", "sam-password").status_code == 302


def test_an_unreachable_cache_refuses_rather_than_letting_guesses_through(limits, client, staff_viewer):
    limits.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = login(client, "/login/", "sam", "sam-password")
    assert response.status_code == 503
    assert "Try again in 1 minute" in response.content.decode()
    limits.RATELIMIT_FAIL_OPEN = True
    assert login(client, "/login/", "sam", "sam-password").status_code == 302


def test_the_count_is_shared_with_other_processes(limits, client, staff_viewer):
    """Another process (another web worker) sees the failures this one counted."""
    fail(client, "/login/", "sam", 5)
    probe = (
        "import django; django.setup()\n"
        "from django.test import RequestFactory\n"
        "from generations import ratelimits\n"
        "request = RequestFactory().post('/login/', REMOTE_ADDR='127.0.0.1')\n"
        "print(ratelimits.login_wait(request, 'sam') > 0, ratelimits.login_wait(request, 'other') > 0)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "seedance_studio.settings"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True False", result.stdout + result.stderr


# --- uploads ---------------------------------------------------------------------------------


def images(count: int, start: int = 0) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(
            f"still-{n}.png", make_image_bytes(320 + n, 300, colour=(n * 20 % 256, 90, 30)), content_type="image/png"
        )
        for n in range(start, start + count)
    ]


def test_uploads_over_the_limit_get_429_and_nothing_is_stored(limits, generator_client, caplog):
    assert generator_client.post("/images/upload/", {"files": images(4)}).status_code == 302
    assert generator_client.post("/images/upload/", {"files": images(2, start=4)}).status_code == 302
    assert SourceImage.objects.count() == 6
    with caplog.at_level(logging.WARNING, logger="generations.ratelimits"):
        response = generator_client.post("/images/upload/", {"files": images(1, start=6)})
    assert response.status_code == 429
    text = response.content.decode()
    assert "Upload limit reached" in text and "Nothing was stored" in text
    assert "6 images an hour" in text and "Try again in" in text
    assert SourceImage.objects.count() == 6
    assert "Refused an upload of 1 file(s) by gene" in caplog.text


def test_an_upload_that_would_pass_the_limit_is_refused_whole(limits, generator_client):
    assert generator_client.post("/images/upload/", {"files": images(4)}).status_code == 302
    response = generator_client.post("/images/upload/", {"files": images(3, start=4)})
    assert response.status_code == 429
    assert "you have 2 left for now, and this upload has 3" in response.content.decode()
    assert SourceImage.objects.count() == 4
    # What is left can still be used.
    assert generator_client.post("/images/upload/", {"files": images(2, start=4)}).status_code == 302
    assert SourceImage.objects.count() == 6


def test_the_upload_limit_is_per_person_and_ends_with_its_window(limits, generator_client, django_user_model, clock):
    from tests.conftest import team_member

    assert generator_client.post("/images/upload/", {"files": images(6)}).status_code == 302
    response = generator_client.post("/images/upload/", {"files": images(1, start=6)})
    assert response.status_code == 429
    other = Client()
    other.force_login(team_member(django_user_model, "gwen", "generator"))
    assert other.post("/images/upload/", {"files": images(1, start=7)}).status_code == 302
    clock.shift(timedelta(seconds=int(response["Retry-After"]) + 1))
    assert generator_client.post("/images/upload/", {"files": images(1, start=8)}).status_code == 302
    assert SourceImage.objects.count() == 8


def test_a_viewer_is_refused_before_anything_is_counted(limits, viewer_client):
    assert viewer_client.post("/images/upload/", {"files": images(1)}).status_code == 403
    assert not SourceImage.objects.exists()


# --- the cache the counts live in ------------------------------------------------------------

CACHE_PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({"cache": settings.CACHES["default"], "login": settings.LOGIN_FAILURE_LIMIT}))
"""


def _probe(tmp_path, **env):
    base = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "seedance_studio.settings",
        "SEEDANCE_ENV_FILE": "",
        "SEEDANCE_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "x",
    }
    return subprocess.run(
        [sys.executable, "-c", CACHE_PROBE],
        cwd=settings.BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cache_is_files_in_embedded_mode_and_redis_beside_a_redis_broker(tmp_path):
    embedded = json.loads(_probe(tmp_path).stdout)["cache"]
    assert embedded["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert embedded["LOCATION"] == str(tmp_path / "var" / "cache")

    # Beside the broker, on the next database: clearing the cache never flushes the broker's queues.
    beside = json.loads(_probe(tmp_path, CELERY_BROKER_URL="redis://:brokerpw@redis.internal:6379/0").stdout)
    assert beside["cache"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert beside["cache"]["LOCATION"] == "redis://redis.internal:6379/1"  # no password where error pages show it
    assert beside["cache"]["OPTIONS"]["password"] == "brokerpw"
    assert beside["login"] == "5/15m"

    chosen = json.loads(_probe(tmp_path, CACHE_URL="rediss://cache.internal:6380/4").stdout)["cache"]
    assert chosen["LOCATION"] == "rediss://cache.internal:6380/4" and "password" not in chosen["OPTIONS"]


def test_a_malformed_limit_is_a_clear_startup_error(tmp_path):
    result = _probe(tmp_path, LOGIN_FAILURE_LIMIT="five")
    assert result.returncode != 0
    assert "LOGIN_FAILURE_LIMIT must look like 5/15m" in result.stderr
    result = _probe(tmp_path, CACHE_URL="memcached://cache:11211")
    assert result.returncode != 0
    assert "CACHE_URL must be a redis:// or rediss:// URL" in result.stderr
