"""Rate limits on logging in (the gallery's and the admin's login) and on uploading source images.

Counts live in the configured cache (a file cache here, Redis in CI); tests/conftest.py empties
it before each test. The clock stands still (time-machine) so a test never straddles the edge of
a counting window, and the end of a lock is reached by moving it, not by sleeping.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from generations import ratelimits
from generations.models import SourceImage
from tests.conftest import make_image_bytes, wait_until

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
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = "20/h"
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


def test_the_account_limit_counts_failures_from_every_address(limits, staff_viewer, viewer, clock, caplog):
    limits.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = "6/h"
    for n, name in enumerate(["sam", "Sam", " SAM", "sam", "Sam", " SAM"]):  # one guess per address
        fail(Client(REMOTE_ADDR=f"203.0.113.{n + 1}"), LOGIN_PAGES[n % 2], name, 1)
    owner = Client(REMOTE_ADDR="192.0.2.77")  # never failed from here
    with caplog.at_level(logging.WARNING, logger="generations.ratelimits"):
        response = login(owner, "/admin/login/", "sam", "sam-password")
    assert response.status_code == 429
    assert not logged_in(owner)
    assert "Too many failed login attempts on this account" in response.content.decode()
    assert int(response["Retry-After"]) == 3600
    assert "Logins locked after 6 failed attempts: 'SAM' from every address, for 1 hour." in caplog.text
    # Only that account: another logs in from an address that guessed.
    assert login(Client(REMOTE_ADDR="203.0.113.1"), "/login/", "vera", "vera-password").status_code == 302
    clock.shift(timedelta(hours=1, seconds=1))
    assert login(owner, "/login/", "sam", "sam-password").status_code == 302


def test_a_post_whose_password_is_never_checked_is_not_counted(limits, client, staff_viewer):
    for _ in range(8):
        assert client.post("/login/", {"username": "sam", "password": ""}).status_code == 200
    fail(client, "/login/", "sam", 4)
    assert login(client, "/login/", "sam", "sam-password").status_code == 302


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


def test_counts_add_up_across_threads_and_processes(limits):
    """No increment is lost: atomic on Redis; on the file cache (whose own read-then-write lost
    them when uploads arrived together) under a lock file, which other processes honour too."""
    rate = "1000000/1000d"  # one window for the whole test, whatever the subprocesses' clock says
    adder = (
        "import django; django.setup()\n"
        "from generations import ratelimits\n"
        f"for _ in range(100): ratelimits.count('test-counter', 'v', {rate!r}, add=1)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "seedance_studio.settings", "RATELIMIT_ENABLE": "true"}
    processes = [
        subprocess.Popen([sys.executable, "-c", adder], cwd=settings.BASE_DIR, env=env, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: ratelimits.count("test-counter", "v", rate, add=1), range(400)))
    for process in processes:
        assert process.wait(timeout=120) == 0, process.stderr.read().decode()
    assert ratelimits.count("test-counter", "v", rate).count == 700


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


# --- simultaneous requests against a live server ---------------------------------------------
#
# A guess is tried while a slow password hash runs, which leaves time for the next guesses to
# arrive. GatedBackend makes that window as wide as the test needs: it holds every wrong
# password at the door until the test opens it, so "40 guesses in flight at once" happens on
# every run, not by luck of the thread scheduler.

RIGHT_PASSWORDS = {"sam-password", "vera-password"}


class Gate:
    def __init__(self):
        self.opened = threading.Event()
        self._lock = threading.Lock()
        self.tried: list[str] = []  # usernames whose password was checked

    def enter(self, username: str, password: str) -> None:
        with self._lock:
            self.tried.append(username)
        if password not in RIGHT_PASSWORDS:
            self.opened.wait(timeout=60)


GATE = Gate()


class GatedBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        GATE.enter(username, password)
        return super().authenticate(request, username=username, password=password, **kwargs)


@pytest.fixture
def gate(limits):
    global GATE
    GATE = Gate()
    limits.AUTHENTICATION_BACKENDS = [f"{__name__}.GatedBackend"]
    yield GATE
    GATE.opened.set()


@pytest.fixture
def server(live_server):
    """The live server, taking 40 connections at once: Django's test server queues 10 not yet
    accepted (WSGIServer.request_queue_size) and resets the rest; gunicorn queues 2048."""
    live_server.thread.httpd.socket.listen(128)
    return live_server


def csrf_token(server) -> str:
    """The CSRF cookie's value, also sent as the form's token (read from the header: the cookie
    is Secure, which a client on http:// would not keep)."""
    response = httpx.get(f"{server.url}/login/", timeout=30)
    found = re.search(rf"{settings.CSRF_COOKIE_NAME}=([^;]+)", " ".join(response.headers.get_list("set-cookie")))
    assert found, response.headers
    return found.group(1)


def post_login(url: str, token: str, username: str, password: str, **headers) -> httpx.Response:
    return httpx.post(
        url,
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Cookie": f"csrftoken={token}", **headers},
        timeout=90,
    )


def session_started(response: httpx.Response) -> bool:
    """The response logged someone in: a redirect that sets a session cookie."""
    cookies = " ".join(response.headers.get_list("set-cookie"))
    return response.status_code == 302 and f"{settings.SESSION_COOKIE_NAME}=" in cookies


def in_flight(gate: Gate, futures, count: int) -> None:
    """Wait until each of `count` requests is either answered or held at the gate."""
    wait_until(
        lambda: len(gate.tried) + sum(future.done() for future in futures) >= count,
        timeout=60,
        what=f"{count} login requests answered or held at the gate",
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_forty_simultaneous_guesses_try_only_the_limit(limits, gate, server, staff_viewer, page):
    token = csrf_token(server)
    with ThreadPoolExecutor(max_workers=40) as pool:
        futures = [pool.submit(post_login, server.url + page, token, "sam", "wrong-password") for _ in range(40)]
        in_flight(gate, futures, 40)
        gate.opened.set()
        responses = [future.result() for future in futures]
    assert len(gate.tried) == 5, f"{len(gate.tried)} passwords were tried against a limit of 5"
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == 5 and statuses.count(429) == 35, statuses
    after = post_login(server.url + page, token, "sam", "sam-password")
    assert after.status_code == 429 and not session_started(after)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_the_right_password_among_forty_simultaneous_guesses_does_not_log_in(limits, gate, server, staff_viewer, page):
    """39 wrong guesses are in flight (being checked) when the right password arrives: the
    limit is used up by then, so it is refused, even though no guess has failed yet."""
    token = csrf_token(server)
    with ThreadPoolExecutor(max_workers=39) as pool:
        futures = [pool.submit(post_login, server.url + page, token, "sam", "wrong-password") for _ in range(39)]
        in_flight(gate, futures, 39)
        right = post_login(server.url + page, token, "sam", "sam-password")
        gate.opened.set()
        responses = [future.result() for future in futures]
    assert right.status_code == 429, right.status_code
    assert not session_started(right)
    assert right.headers["Retry-After"] == "900"  # what the lock will be when those guesses fail
    assert "Too many login attempts" in right.text
    assert len(gate.tried) == 5
    assert [response.status_code for response in responses].count(200) == 5


@pytest.mark.django_db(transaction=True)
def test_guesses_spread_over_many_addresses_stop_at_the_account_limit(limits, gate, server, staff_viewer, viewer):
    """A slow, spread guess: every guess from another address (behind a trusted proxy), so no
    per-address limit is reached; the account's own limit stops them, however the name is cased."""
    limits.TRUSTED_PROXY_COUNT = 1
    limits.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = "8/h"
    token = csrf_token(server)
    names = ["sam", "SAM", " Sam "]
    with ThreadPoolExecutor(max_workers=30) as pool:
        futures = [
            pool.submit(
                post_login,
                f"{server.url}/login/",
                token,
                names[n % 3],
                "wrong-password",
                **{"X-Forwarded-For": f"198.51.100.{n + 1}"},
            )
            for n in range(30)
        ]
        in_flight(gate, futures, 30)
        gate.opened.set()
        responses = [future.result() for future in futures]
    assert len(gate.tried) == 8
    assert [response.status_code for response in responses].count(429) == 22
    # The right password from an address that never failed: the account is locked for everyone.
    right = post_login(f"{server.url}/login/", token, "sam", "sam-password", **{"X-Forwarded-For": "192.0.2.50"})
    assert right.status_code == 429 and not session_started(right)
    assert "this account" in right.text
    # Other accounts are not.
    other = post_login(f"{server.url}/login/", token, "vera", "vera-password", **{"X-Forwarded-For": "198.51.100.1"})
    assert session_started(other)


def upload_body(count: int, start: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        (
            "files",
            (f"burst-{n}.png", make_image_bytes(320 + n % 200, 300 + n // 200, colour=(n % 256, 40, 90)), "image/png"),
        )
        for n in range(start, start + count)
    ]


@pytest.mark.django_db(transaction=True)
def test_ten_simultaneous_uploads_never_pass_the_limit(limits, server, generator):
    limits.UPLOAD_LIMIT = "100/h"
    browser = Client()
    browser.force_login(generator)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    token = csrf_token(server)
    bodies = [upload_body(50, start=50 * n) for n in range(10)]

    def upload(files):
        return httpx.post(
            f"{server.url}/images/upload/",
            data={"csrfmiddlewaretoken": token},
            files=files,
            headers={"Cookie": f"csrftoken={token}; {settings.SESSION_COOKIE_NAME}={session}"},
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(upload, bodies))
    statuses = [response.status_code for response in responses]
    assert statuses.count(302) == 2 and statuses.count(429) == 8, statuses
    assert SourceImage.objects.count() == 100
    # The limit is used up: one more file is refused.
    assert upload(upload_body(1, start=900)).status_code == 429
