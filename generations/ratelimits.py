"""Rate limits on logging in and uploading, counted with django-ratelimit in the shared cache.

Logins (the gallery's /login/ and the admin's /admin/login/): only failures are counted, per
username from one client address (LOGIN_FAILURE_LIMIT, 5 per 15 minutes) and per address for
any usernames (LOGIN_FAILURE_LIMIT_PER_IP, 30 per 15 minutes). Django's `user_login_failed`
signal does the counting, so both login pages (and any other form that authenticates) count
alike; `login_guard` refuses a login POST while either count is at its limit, with HTTP 429
and a page saying how long to wait, even when the password is right this time.

Uploads (the gallery's image upload): every file counts, per person (UPLOAD_LIMIT, 100 an
hour). A request that would pass the limit is refused whole before anything is stored.

The failure that reaches a login limit locks logins for that limit's whole period from then
(15 minutes). Upload counts use django-ratelimit's fixed windows, so a refused upload may be
tried again when the current window ends. The page and its Retry-After header say when.

The client address is REMOTE_ADDR unless TRUSTED_PROXY_COUNT says how many reverse proxies
append to X-Forwarded-For (client_ip).
If the cache cannot be reached, requests are refused (503) unless RATELIMIT_FAIL_OPEN is on.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.core.cache import caches
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)

LOGIN_PER_USER = "login-failures:user+ip"
LOGIN_PER_IP = "login-failures:ip"
UPLOADS = "uploads:user"
UPLOAD_FIELD = "files"  # ImageUploadForm's file field
UNAVAILABLE_RETRY_SECONDS = 60
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# --- who is asking ------------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with TRUSTED_PROXY_COUNT = n proxies in front, the
    address the outermost of them saw (the n-th entry from the right of X-Forwarded-For; entries
    further left were written by the client and are ignored). IPv6 is cut to its /64, the block
    one host usually has."""
    address = request.META.get("REMOTE_ADDR") or ""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            address = forwarded[-min(hops, len(forwarded))]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False).network_address)
    return str(parsed)


def _username_key(username: str) -> str:
    return username.strip().casefold()[:150]


def _who(username: str) -> str:
    """A username for the log, only when it is an account's: a password typed into the
    username box must not end up in the log."""
    username = username.strip()
    model = get_user_model()
    if username and model._default_manager.filter(**{model.USERNAME_FIELD: username}).exists():
        return repr(username)
    return "an unknown username"


# --- counting -----------------------------------------------------------------------------


class CacheUnavailable(Exception):
    """The limiter's cache did not answer (and RATELIMIT_FAIL_OPEN is off)."""


@dataclass(frozen=True)
class Usage:
    count: int
    limit: int
    seconds_left: int  # until the current window ends and the count starts again from 0

    @property
    def reached(self) -> bool:
        return self.count >= self.limit


def usage(request: HttpRequest, group: str, value: str, rate: str, *, increment: bool = False) -> Usage | None:
    """The count of `group` for `value` in the current window (after adding one if `increment`);
    None when limits are off (RATELIMIT_ENABLE=false, or the cache failed and RATELIMIT_FAIL_OPEN)."""
    try:
        found = get_usage(request, group=group, key=lambda _group, _request: value, rate=rate, increment=increment)
    except Exception:
        logger.exception("The rate limiter's cache failed (%s).", group)
        found = {"count": 0, "limit": 0, "time_left": -1}
    if found is None:
        return None
    if found["limit"] == 0 and found["time_left"] == -1:  # django-ratelimit's "the cache failed"
        if settings.RATELIMIT_FAIL_OPEN:
            logger.error("The rate limiter's cache failed (%s); letting the request through.", group)
            return None
        raise CacheUnavailable(group)
    return Usage(count=found["count"], limit=found["limit"], seconds_left=max(1, found["time_left"]))


# --- logins -------------------------------------------------------------------------------


def _login_counters(request: HttpRequest, username: str) -> list[tuple[str, str, str]]:
    ip = client_ip(request)
    return [
        (LOGIN_PER_USER, f"{ip} {_username_key(username)}", settings.LOGIN_FAILURE_LIMIT),
        (LOGIN_PER_IP, ip, settings.LOGIN_FAILURE_LIMIT_PER_IP),
    ]


def _lock_key(group: str, value: str) -> str:
    return "login-lock:" + hashlib.sha256(f"{group}\n{value}".encode()).hexdigest()


def _period_seconds(rate: str) -> int:
    """900 for "5/15m"."""
    per = rate.split("/", 1)[1]
    return int(per[:-1] or 1) * PERIOD_SECONDS[per[-1]]


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


@receiver(user_login_failed, dispatch_uid="generations.ratelimits.count_login_failure")
def count_login_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    """A failed authentication (wrong password, unknown or inactive user) counts once per counter;
    the failure that reaches a limit locks logins for that counter's whole period from now."""
    if request is None or not settings.RATELIMIT_ENABLE:  # not a web login (a command, a test's authenticate())
        return
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or "")
    for group, value, rate in _login_counters(request, username):
        try:
            counted = usage(request, group, value, rate, increment=True)
            if counted is None or counted.count != counted.limit:
                continue
            period = _period_seconds(rate)
            _cache().set(_lock_key(group, value), time.time() + period, period + 5)
        except CacheUnavailable:
            return  # the next attempt is refused by login_guard
        except Exception:
            logger.exception("Could not record a login lock (%s).", group)
            continue
        logger.warning(
            "Logins locked after %d failed attempts: %s from %s, for %s.",
            counted.count,
            _who(username) if group == LOGIN_PER_USER else "every username",
            client_ip(request),
            wait_words(period),
        )


def login_wait(request: HttpRequest, username: str) -> int:
    """Seconds until this username may log in again from this address (0: now). A lock lasts
    its whole period from the failure that set it; a count at its limit (a lock lost with the
    cache) keeps logins locked until its window ends."""
    waits = [0]
    counters = _login_counters(request, username)
    try:
        locks = _cache().get_many([_lock_key(group, value) for group, value, _ in counters])
    except Exception:
        logger.exception("The rate limiter's cache failed (login locks).")
        if not settings.RATELIMIT_FAIL_OPEN:
            raise CacheUnavailable("login locks") from None
        locks = {}
    now = time.time()
    waits += [math.ceil(until - now) for until in locks.values() if until > now]
    for group, value, rate in counters:
        current = usage(request, group, value, rate)
        if current is not None and current.reached:
            waits.append(current.seconds_left)
    return max(waits)


def login_guard(view, *, admin_page: bool = False):
    """Wrap a login view: a POST while this username or address is locked out gets 429."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST" and settings.RATELIMIT_ENABLE:
            username = request.POST.get(get_user_model().USERNAME_FIELD, "")
            try:
                wait = login_wait(request, username)
            except CacheUnavailable:
                return _unavailable(request, admin_page=admin_page, what="Logging in")
            if wait:
                logger.warning(
                    "Refused a login for %s from %s: too many failed attempts (locked for %d s more).",
                    _who(username),
                    client_ip(request),
                    wait,
                )
                message = (
                    "Too many failed login attempts from your network. For the account's safety, "
                    "logging in is paused for a while, even with the right password."
                )
                return refusal(
                    request,
                    title="Too many login attempts",
                    message=message,
                    seconds=wait,
                    back_url=reverse("admin:login" if admin_page else "login"),
                    back_label="Back to the login page",
                    admin_page=admin_page,
                )
        return view(request, *args, **kwargs)

    return guarded


# --- uploads ------------------------------------------------------------------------------


def upload_limit(view):
    """Wrap an upload view: every file counts against UPLOAD_LIMIT; an upload that would pass
    it is refused whole (429), before the view stores anything."""

    @functools.wraps(view)
    def limited(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        files = len(request.FILES.getlist(UPLOAD_FIELD)) if request.method == "POST" else 0
        if files and settings.RATELIMIT_ENABLE:
            value, rate = str(request.user.pk), settings.UPLOAD_LIMIT
            try:
                current = usage(request, UPLOADS, value, rate)
                if current is not None and current.count + files > current.limit:
                    return _upload_refused(request, current, files)
                for _ in range(files):
                    usage(request, UPLOADS, value, rate, increment=True)
            except CacheUnavailable:
                return _unavailable(request, admin_page=False, what="Uploading")
        return view(request, *args, **kwargs)

    return limited


def _upload_refused(request: HttpRequest, current: Usage, files: int) -> HttpResponse:
    left = max(0, current.limit - current.count)
    logger.warning(
        "Refused an upload of %d file(s) by %s: %d of %d uploads used in this window.",
        files,
        request.user.get_username(),
        current.count,
        current.limit,
    )
    count, period = _rate_in_words(settings.UPLOAD_LIMIT)
    detail = f"you have {left} left for now, and this upload has {files}." if left else "you have none left for now."
    message = f"Nothing was stored. Each person may upload {count} images {period}; {detail}"
    return refusal(
        request,
        title="Upload limit reached",
        message=message,
        seconds=current.seconds_left,
        back_url=reverse("images"),
        back_label="Back to the images",
        admin_page=False,
    )


# --- the refusal page -----------------------------------------------------------------------


def refusal(
    request: HttpRequest,
    *,
    title: str,
    message: str,
    seconds: int,
    back_url: str,
    back_label: str,
    admin_page: bool,
    status: int = 429,
) -> HttpResponse:
    """The 429 (or 503) page: what happened, how long to wait in words, and a way back."""
    context = {
        "title": title,
        "message": message,
        "wait": wait_words(seconds),
        "back_url": back_url,
        "back_label": back_label,
    }
    if admin_page:
        context = {**admin.site.each_context(request), **context}
    template = "admin/ratelimited.html" if admin_page else "ratelimited.html"
    response = render(request, template, context, status=status)
    response["Retry-After"] = str(seconds)
    add_never_cache_headers(response)
    return response


def _unavailable(request: HttpRequest, *, admin_page: bool, what: str) -> HttpResponse:
    return refusal(
        request,
        title="Briefly unavailable",
        message=f"{what} is paused: the rate limiter cannot reach its store right now.",
        seconds=UNAVAILABLE_RETRY_SECONDS,
        back_url=reverse("admin:login" if admin_page else "login") if what == "Logging in" else reverse("images"),
        back_label="Back",
        admin_page=admin_page,
        status=503,
    )


def wait_words(seconds: int) -> str:
    """How long to wait, as people say it: "40 seconds", "1 minute", "14 minutes", "2 hours 5 minutes"."""
    seconds = max(1, int(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{text} {minutes} minute{'s' if minutes != 1 else ''}" if minutes else text


def _rate_in_words(rate: str) -> tuple[int, str]:
    """("100", "an hour") for "100/h"; ("5", "per 15 minutes") for "5/15m"."""
    count, per = rate.split("/")
    multiple, unit = per[:-1], per[-1]
    names = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
    if not multiple or multiple == "1":
        return int(count), f"{'an' if unit == 'h' else 'a'} {names[unit]}"
    return int(count), f"per {multiple} {names[unit]}s"
