"""Rate limits on logging in and uploading, counted atomically in the shared cache.

Logins (the gallery's /login/ and the admin's /admin/login/, both wrapped by `login_guard`):
failed attempts are limited per username from one client address (LOGIN_FAILURE_LIMIT, 5 per
15 minutes), per address for any usernames (LOGIN_FAILURE_LIMIT_PER_IP, 30 per 15 minutes)
and per account from every address (LOGIN_FAILURE_LIMIT_PER_ACCOUNT, 20 an hour; usernames
case-folded). An attempt is checked before it is tried and counted after: `login_guard`
reserves it on every counter at once (one atomic increment each decides), so of 40 guesses
sent together only the limit's worth are tried, the rest get HTTP 429 and a page saying how
long to wait, even with the right password. A failed attempt keeps its reservation; one that
logs in, or never reaches a password check (an empty form, a CSRF failure), gives it back,
so a person is never locked out by their own successes.

Uploads (the gallery's image upload): every file counts, per person (UPLOAD_LIMIT, 100 an
hour). An upload adds its files to the count first, atomically; one that takes the count past
the limit gives them back and is refused whole, before anything is stored.

The failure that reaches a login limit locks logins for that limit's whole period from then.
Counts are kept in fixed windows of the limit's period, so a refused upload may be tried
again when the current window ends. The page and its Retry-After header say when.

Increments are atomic on Redis (INCRBY). The embedded file cache cannot increment atomically,
so there each count is read and written under an exclusive lock: a lock file in the cache's
folder (flock) for the machine's other processes, and a thread lock for this one's threads.

The client address is REMOTE_ADDR unless TRUSTED_PROXY_COUNT says how many reverse proxies
append to X-Forwarded-For (client_ip).
If the cache cannot be reached, requests are refused (503) unless RATELIMIT_FAIL_OPEN is on.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import ipaddress
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, replace

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger(__name__)

LOGIN_PER_USER = "login-failures:user+ip"
LOGIN_PER_IP = "login-failures:ip"
LOGIN_PER_ACCOUNT = "login-failures:user"
UPLOADS = "uploads:user"
UPLOAD_FIELD = "files"  # ImageUploadForm's file field
UNAVAILABLE_RETRY_SECONDS = 60
EXPIRY_MARGIN_SECONDS = 60  # a count outlives its window a little, so a late give-back finds it
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OUTCOME = "_login_outcome"  # set on a guarded login request: None, then "failed" or "succeeded"


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
    if username and model._default_manager.filter(**{f"{model.USERNAME_FIELD}__iexact": username}).exists():
        return repr(username)
    return "an unknown username"


# --- counting -----------------------------------------------------------------------------


class CacheUnavailable(Exception):
    """The limiter's cache did not answer (and RATELIMIT_FAIL_OPEN is off)."""


@dataclass(frozen=True)
class Usage:
    key: str  # the cache key of the count in this window: a give-back goes to the same one
    count: int
    limit: int
    seconds_left: int  # until the current window ends and the count starts again from 0

    @property
    def reached(self) -> bool:
        return self.count >= self.limit


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


def _period_seconds(rate: str) -> int:
    """900 for "5/15m"."""
    per = rate.split("/", 1)[1]
    return int(per[:-1] or 1) * PERIOD_SECONDS[per[-1]]


_counting_thread_lock = threading.Lock()


@contextlib.contextmanager
def _counting_lock(cache):
    """Make a read-then-write of a count atomic on a cache that cannot increment atomically:
    a thread lock for this process's threads and, for the file cache, an exclusive flock on a
    file in its folder for the other processes of the machine (all of embedded mode's
    processes share that folder; the cache's clear() only removes its own *.djcache files)."""
    with _counting_thread_lock:
        folder = getattr(cache, "_dir", None)  # FileBasedCache's folder
        if folder is None:
            yield
            return
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "ratelimit.lock"), "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def _add(key: str, delta: int, timeout: int) -> int:
    """Add `delta` to the count at `key` (0 when missing) and return the new total, atomically."""
    cache = _cache()
    if isinstance(cache, RedisCache):
        cache.add(key, 0, timeout)  # SET NX EX: only the first of simultaneous requests creates it
        return cache.incr(key, delta)  # INCRBY
    with _counting_lock(cache):
        total = int(cache.get(key, 0)) + delta
        cache.set(key, total, timeout)
        return total


def count(group: str, value: str, rate: str, *, add: int = 0) -> Usage | None:
    """The count of `group` for `value` in the current window of `rate`, after adding `add`
    (atomically: of simultaneous callers each sees its own total). None when limits are off
    (RATELIMIT_ENABLE=false, or the cache failed and RATELIMIT_FAIL_OPEN is on)."""
    if not settings.RATELIMIT_ENABLE:
        return None
    limit, period = int(rate.split("/", 1)[0]), _period_seconds(rate)
    now = int(time.time())
    window_end = now - now % period + period
    digest = hashlib.sha256(f"{group}\n{rate}\n{value}\n{window_end}".encode()).hexdigest()
    key = f"ratelimit:{digest}"
    try:
        total = _add(key, add, window_end - now + EXPIRY_MARGIN_SECONDS) if add else int(_cache().get(key, 0))
    except Exception:
        if settings.RATELIMIT_FAIL_OPEN:
            logger.exception("The rate limiter's cache failed (%s); letting the request through.", group)
            return None
        logger.exception("The rate limiter's cache failed (%s).", group)
        raise CacheUnavailable(group) from None
    return Usage(key=key, count=total, limit=limit, seconds_left=max(1, window_end - now))


def give_back(usage: Usage, amount: int) -> None:
    """Take back `amount` added by `count()` (to the window it was added in). Never raises: a
    give-back that fails leaves the count higher, which refuses sooner, never later."""
    try:
        cache = _cache()
        if isinstance(cache, RedisCache):
            cache.incr(usage.key, -amount)
            return
        with _counting_lock(cache):
            left = cache.get(usage.key)
            if left is not None:
                cache.set(usage.key, max(0, int(left) - amount), usage.seconds_left + EXPIRY_MARGIN_SECONDS)
    except ValueError:
        pass  # the window's count has expired: nothing to give back
    except Exception:
        logger.exception("Could not give back a rate-limit reservation.")


# --- logins -------------------------------------------------------------------------------


def _login_counters(request: HttpRequest, username: str) -> list[tuple[str, str, str]]:
    ip, user = client_ip(request), _username_key(username)
    return [
        (LOGIN_PER_USER, f"{ip} {user}", settings.LOGIN_FAILURE_LIMIT),
        (LOGIN_PER_IP, ip, settings.LOGIN_FAILURE_LIMIT_PER_IP),
        (LOGIN_PER_ACCOUNT, user, settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT),
    ]


def _lock_key(group: str, value: str) -> str:
    return "login-lock:" + hashlib.sha256(f"{group}\n{value}".encode()).hexdigest()


@dataclass(frozen=True)
class Blocked:
    seconds: int
    group: str  # which limit: the refusal says whose safety it is for


def _login_blocked(request: HttpRequest, username: str) -> Blocked | None:
    """Whether this username may not log in from this address now, and for how long. A lock
    lasts its whole period from the failure that set it. A count at its limit without a lock
    (attempts still being checked, or a lost lock) blocks until its window ends; the wait given
    is the limit's period, what the lock will be if those attempts fail."""
    counters = _login_counters(request, username)
    try:
        locks = _cache().get_many([_lock_key(group, value) for group, value, _ in counters])
    except Exception:
        logger.exception("The rate limiter's cache failed (login locks).")
        if not settings.RATELIMIT_FAIL_OPEN:
            raise CacheUnavailable("login locks") from None
        locks = {}
    now = time.time()
    waits = []
    for group, value, rate in counters:
        until = locks.get(_lock_key(group, value))
        if until is not None and until > now:
            waits.append(Blocked(math.ceil(until - now), group))
            continue
        current = count(group, value, rate)
        if current is not None and current.reached:
            waits.append(Blocked(_period_seconds(rate), group))
    return max(waits, key=lambda blocked: blocked.seconds, default=None)


def login_wait(request: HttpRequest, username: str) -> int:
    """Seconds until this username may log in again from this address (0: now)."""
    blocked = _login_blocked(request, username)
    return blocked.seconds if blocked else 0


Reserved = list[tuple[str, str, str, Usage]]  # (group, value, rate, the count after this attempt's +1)


def _reserve_login(request: HttpRequest, username: str) -> tuple[Reserved, Blocked | None]:
    """Count this attempt on every login counter before it is tried. Each increment is atomic,
    so when attempts arrive together each sees its own total: those past a limit give their
    reservations back and are refused (the Blocked), the others are tried."""
    reserved: Reserved = []
    try:
        for group, value, rate in _login_counters(request, username):
            counted = count(group, value, rate, add=1)
            if counted is None:
                continue
            reserved.append((group, value, rate, counted))
            if counted.count > counted.limit:
                _give_back_login(reserved)
                return [], Blocked(_period_seconds(rate), group)
    except CacheUnavailable:
        _give_back_login(reserved)
        raise
    return reserved, None


def _give_back_login(reserved: Reserved) -> None:
    for *_, usage in reserved:
        give_back(usage, 1)


def _settle_login(request: HttpRequest, username: str, reserved: Reserved) -> None:
    """After the attempt: a failure keeps its reservation, and the one that brought a count to
    its limit locks that counter for the limit's whole period from now; anything else (logged
    in, or no password was checked) gives the reservation back."""
    if getattr(request, OUTCOME, None) != "failed":
        _give_back_login(reserved)
        return
    for group, value, rate, usage in reserved:
        if usage.count != usage.limit:
            continue
        period = _period_seconds(rate)
        try:
            _cache().set(_lock_key(group, value), time.time() + period, period + 5)
        except Exception:
            # The count stays at its limit until its window ends, which still refuses.
            logger.exception("Could not record a login lock (%s).", group)
            continue
        logger.warning(
            "Logins locked after %d failed attempts: %s from %s, for %s.",
            usage.count,
            "every username" if group == LOGIN_PER_IP else _who(username),
            "every address" if group == LOGIN_PER_ACCOUNT else client_ip(request),
            wait_words(period),
        )


@receiver(user_login_failed, dispatch_uid="generations.ratelimits.note_login_failure")
def note_login_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    """A password was checked and failed (wrong password, unknown or inactive user) on a
    guarded login page: the attempt keeps its reservation."""
    if request is not None and hasattr(request, OUTCOME):
        setattr(request, OUTCOME, "failed")


@receiver(user_logged_in, dispatch_uid="generations.ratelimits.note_login_success")
def note_login_success(sender, request: HttpRequest | None = None, **kwargs) -> None:
    if request is not None and getattr(request, OUTCOME, "absent") is None:
        setattr(request, OUTCOME, "succeeded")


def login_guard(view, *, admin_page: bool = False):
    """Wrap a login view: a POST is counted before it is tried; one past a limit (or while a
    lock lasts) gets 429 without its password being checked."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST" or not settings.RATELIMIT_ENABLE:
            return view(request, *args, **kwargs)
        username = request.POST.get(get_user_model().USERNAME_FIELD, "")
        try:
            blocked = _login_blocked(request, username)
            reserved: Reserved = []
            if blocked is None:
                reserved, blocked = _reserve_login(request, username)
        except CacheUnavailable:
            return _unavailable(request, admin_page=admin_page, what="Logging in")
        if blocked is not None:
            return _login_refused(request, username, blocked, admin_page=admin_page)
        setattr(request, OUTCOME, None)
        try:
            return view(request, *args, **kwargs)
        finally:
            _settle_login(request, username, reserved)

    return guarded


def _login_refused(request: HttpRequest, username: str, blocked: Blocked, *, admin_page: bool) -> HttpResponse:
    logger.warning(
        "Refused a login for %s from %s: too many failed attempts %s (locked for %d s more).",
        _who(username),
        client_ip(request),
        "on this account from every address" if blocked.group == LOGIN_PER_ACCOUNT else "from this address",
        blocked.seconds,
    )
    if blocked.group == LOGIN_PER_ACCOUNT:
        message = (
            "Too many failed login attempts on this account, from anywhere. For its safety, logging in "
            "to it is paused for a while for everyone, even with the right password."
        )
    else:
        message = (
            "Too many failed login attempts from your network. For the account's safety, "
            "logging in is paused for a while, even with the right password."
        )
    return refusal(
        request,
        title="Too many login attempts",
        message=message,
        seconds=blocked.seconds,
        back_url=reverse("admin:login" if admin_page else "login"),
        back_label="Back to the login page",
        admin_page=admin_page,
    )


# --- uploads ------------------------------------------------------------------------------


def upload_limit(view):
    """Wrap an upload view: every file counts against UPLOAD_LIMIT. The files are added to the
    count first (atomically); an upload that takes it past the limit gives them back and is
    refused whole (429), before the view stores anything."""

    @functools.wraps(view)
    def limited(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        files = len(request.FILES.getlist(UPLOAD_FIELD)) if request.method == "POST" else 0
        if files and settings.RATELIMIT_ENABLE:
            try:
                counted = count(UPLOADS, str(request.user.pk), settings.UPLOAD_LIMIT, add=files)
            except CacheUnavailable:
                return _unavailable(request, admin_page=False, what="Uploading")
            if counted is not None and counted.count > counted.limit:
                give_back(counted, files)
                return _upload_refused(request, replace(counted, count=counted.count - files), files)
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


# --- one action per person (exports, new collections) ---------------------------------------


def per_person_refusal(
    request: HttpRequest,
    *,
    group: str,
    rate: str,
    doing: str,
    says: str,
    title: str,
    back_url: str,
    back_label: str,
) -> HttpResponse | None:
    """Count one `group` action by this person against `rate`; None if it may go ahead.

    Added first, in one atomic increment, so parallel requests cannot all slip under the limit;
    one that takes the count past it gives it back and gets the 429 page, which `says` what did
    not happen and the limit (a format string with {count} and {period}, e.g. "30" and "an hour").
    `doing` names the action for the 503 page shown when the limiter's cache cannot be reached
    (and RATELIMIT_FAIL_OPEN is off).
    """
    try:
        counted = count(group, str(request.user.pk), rate, add=1)
    except CacheUnavailable:
        return refusal(
            request,
            title="Briefly unavailable",
            message=f"{doing} is paused: the rate limiter cannot reach its store right now.",
            seconds=UNAVAILABLE_RETRY_SECONDS,
            back_url=back_url,
            back_label=back_label,
            admin_page=False,
            status=503,
        )
    if counted is None or counted.count <= counted.limit:
        return None
    give_back(counted, 1)
    logger.warning("Refused %s by %s: over %s.", group, request.user.get_username(), rate)
    times, period = _rate_in_words(rate)
    return refusal(
        request,
        title=title,
        message=says.format(count=times, period=period),
        seconds=counted.seconds_left,
        back_url=back_url,
        back_label=back_label,
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
