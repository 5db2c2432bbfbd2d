"""Seedance Studio settings: one module, configured by the environment.

With no environment at all the app runs on embedded defaults (SQLite, local
files, a file-based Celery broker, the fal simulator) so `make run` needs no
server. Production sets DATABASE_URL, CELERY_BROKER_URL, AWS_STORAGE_BUCKET_NAME,
FAL_KEY, SECRET_KEY and ALLOWED_HOSTS; every variable is listed in the README.

A `.env` file (written by `make run` for local development) is read first;
real environment variables always win over it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent

# SEEDANCE_ENV_FILE="" disables the .env file (the tests do, to stay hermetic).
ENV_FILE = os.environ.get("SEEDANCE_ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE:
    load_dotenv(ENV_FILE, override=False)


def envstr(name: str, default: str = "") -> str:
    """The variable's value; unset and empty both mean the default."""
    return os.environ.get(name) or default


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def envlist(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Core -------------------------------------------------------------------

DEBUG = envbool("DEBUG", False)

SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Production must set it in the environment; "
        "for local development run `make run` once, which writes a .env with a random key."
    )

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

# Runtime state of the embedded mode (SQLite file, media, broker folders); git-ignored.
VAR_DIR = Path(envstr("SEEDANCE_VAR_DIR", str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_ratelimit",  # login and upload limits (generations/ratelimits.py); its checks vet the cache
    "csp",  # django-csp: the Content-Security-Policy header (seedance_studio/content_security.py)
    "generations",
    "fal_simulator",  # the local stand-in for fal.ai: `manage.py fal_simulator`
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "seedance_studio.content_security.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # With DEBUG on, only staff see Django's technical 404 (it lists every URL pattern).
    "seedance_studio.debug_pages.Technical404ForStaffOnlyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A value in a URL that cannot be what it claims (a damaged cursor, a 30-digit id): a 400
    # page saying which and why, with DEBUG on or off (generations/bad_input.py).
    "generations.bad_input.BadInputMiddleware",
]

ROOT_URLCONF = "seedance_studio.urls"
WSGI_APPLICATION = "seedance_studio.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "generations.context_processors.fal_mode",
                "generations.context_processors.permissions",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

_SQLITE_PATH = VAR_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{_SQLITE_PATH}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # The web server and the worker write to the same file: WAL lets readers
        # go on during a write, IMMEDIATE + timeout makes writers queue instead of failing.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not :memory:, so a test's Celery worker process sees the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n -------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files: static and media ------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(VAR_DIR / "media")))

# Serve static files straight from the apps when collectstatic has not been run
# (development, tests); production runs collectstatic and gets compressed copies.
WHITENOISE_USE_FINDERS = True

AWS_STORAGE_BUCKET_NAME = envstr("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    from boto3.s3.transfer import TransferConfig

    # Multipart uploads with at most two 8 MiB parts in memory: boto3's default keeps up
    # to ten, so a video under ~80 MB would be held whole.
    _transfer_config = TransferConfig(max_concurrency=2, multipart_chunksize=8 * 1024 * 1024)
    _transfer_config.max_in_memory_upload_chunks = 2  # not a constructor argument in boto3
    # Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
    # an instance role, ...), so no secret is copied into settings.
    _default_storage = {
        # S3Storage that uploads a file on disk from its path (flat memory for big videos).
        "BACKEND": "generations.storage.S3FileStorage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "region_name": envstr("AWS_S3_REGION_NAME") or None,
            "endpoint_url": envstr("AWS_S3_ENDPOINT_URL") or None,
            "addressing_style": envstr("AWS_S3_ADDRESSING_STYLE") or None,
            "location": envstr("AWS_S3_KEY_PREFIX"),
            "querystring_auth": True,
            "querystring_expire": envint("AWS_QUERYSTRING_EXPIRE", 900),
            "default_acl": None,  # private: objects inherit the bucket's (private) policy
            "file_overwrite": False,
            "signature_version": "s3v4",
            "transfer_config": _transfer_config,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }

STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploaded source images: anything bigger is refused before it is decoded.
SOURCE_IMAGE_MAX_BYTES = envint("SOURCE_IMAGE_MAX_BYTES", 20 * 1024 * 1024)

# --- Celery -----------------------------------------------------------------

CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Embedded mode: messages are files under var/, so no broker server is needed.
    _broker_dir = VAR_DIR / "celery" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        # Broadcast (control) exchanges; kombu's default is ./control in the working directory.
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
    _default_result_backend = f"file://{VAR_DIR / 'celery' / 'results'}"
    (VAR_DIR / "celery" / "results").mkdir(parents=True, exist_ok=True)
else:
    _default_result_backend = CELERY_BROKER_URL

CELERY_RESULT_BACKEND = envstr("CELERY_RESULT_BACKEND", _default_result_backend)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_DEFAULT_QUEUE = envstr("CELERY_TASK_DEFAULT_QUEUE", "seedance")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Tasks are idempotent, so a task whose worker dies is redelivered instead of lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE

CELERY_BEAT_SCHEDULE = {
    # The safety net under webhooks and per-generation polling: finds generations
    # whose task was lost (worker killed, broker restarted) and resumes them.
    "reconcile": {"task": "generations.reconcile", "schedule": float(envint("RECONCILE_INTERVAL", 60))},
}

# --- fal -------------------------------------------------------------------

# Without FAL_KEY the app talks to the local fal simulator (`manage.py fal_simulator`,
# started by `make run`), which writes how to reach it into FAL_SIMULATOR_STATE_DIR.
FAL_KEY = envstr("FAL_KEY")
FAL_SIMULATED = not FAL_KEY
FAL_SIMULATOR_STATE_DIR = Path(envstr("FAL_SIMULATOR_STATE_DIR", str(VAR_DIR / "fal-simulator")))
# The app's public base URL (e.g. https://studio.example.com). When set, fal reports
# completion by webhook to <base>/webhooks/fal; without it, polling alone carries completion.
PUBLIC_BASE_URL = envstr("PUBLIC_BASE_URL").rstrip("/")
FAL_WEBHOOK_JWKS_URL = envstr("FAL_WEBHOOK_JWKS_URL", "https://rest.alpha.fal.ai/.well-known/jwks.json")
FAL_WEBHOOK_MAX_AGE = envint("FAL_WEBHOOK_MAX_AGE", 300)  # seconds a signed webhook stays valid
# How fal gets the source image: auto, upload (fal's CDN), presigned (S3 URL), data_uri.
FAL_IMAGE_TRANSPORT = envstr("FAL_IMAGE_TRANSPORT", "auto")
FAL_DATA_URI_MAX_BYTES = envint("FAL_DATA_URI_MAX_BYTES", 2 * 1024 * 1024)
# fal-client retries 408/409/429 and connection errors itself, sleeping inside the call, for
# status, result and cancel calls (a submit POST is sent once: fal_gateway._OnePostPerSubmit);
# keep that short and let Celery's backoff (which frees the worker) do the long waits.
FAL_CLIENT_MAX_ATTEMPTS = envint("FAL_CLIENT_MAX_ATTEMPTS", 3)
# Seconds fal-client waits for any one answer from fal.
FAL_CLIENT_TIMEOUT = float(envstr("FAL_CLIENT_TIMEOUT", "60"))
# fal's time-to-start deadline for a submitted request (X-Fal-Request-Timeout): a request
# still queued after this ends as request_timeout, unstarted and unbilled.
FAL_START_TIMEOUT = envint("FAL_START_TIMEOUT", 6 * 3600)
FAL_SUBMIT_MAX_RETRIES = envint("FAL_SUBMIT_MAX_RETRIES", 6)
# Polling: the interval grows with the request's age, between these bounds (seconds).
FAL_POLL_MIN_INTERVAL = float(envstr("FAL_POLL_MIN_INTERVAL", "2"))
FAL_POLL_MAX_INTERVAL = float(envstr("FAL_POLL_MAX_INTERVAL", "30"))
# With webhooks, polling is only the fallback: first look after this many seconds.
FAL_WEBHOOK_POLL_FALLBACK = float(envstr("FAL_WEBHOOK_POLL_FALLBACK", "120"))
# A submit that may have reached fal is never repeated; after this long without a
# webhook revealing its request id, the generation fails as "uncertain".
FAL_SUBMIT_DOUBT_GRACE = envint("FAL_SUBMIT_DOUBT_GRACE", 900)
# fal said COMPLETED without an error but its result route fails: fetch it this many times
# (backing off) before the generation fails, saying the video may still be at fal.
FAL_RESULT_MAX_ATTEMPTS = envint("FAL_RESULT_MAX_ATTEMPTS", 8)
# Where fal's output videos may come from (https only; these domains and their subdomains),
# for the first URL and every redirect. The simulator's host is added in embedded mode.
FAL_MEDIA_HOSTS = [
    h.strip().lower().lstrip(".") for h in envstr("FAL_MEDIA_HOSTS", "fal.media").split(",") if h.strip()
]
# The fal account's user id as fal signs it on webhooks (X-Fal-Webhook-User-Id). Optional:
# learnt from the first webhook of a request this app submitted; `fal_check` prints it.
FAL_ACCOUNT_USER_ID = envstr("FAL_ACCOUNT_USER_ID")

# fal's published pricing for this endpoint: $1.0 per million video tokens, where
# tokens = width x height x fps x seconds / 1024 ($0.243 for 1080p 16:9 5 s).
FAL_PRICING = {
    "usd_per_million_tokens": envstr("FAL_PRICE_PER_MILLION_TOKENS", "1.0"),
    "fps": 24,
    "source": "https://fal.ai/models/fal-ai/bytedance/seedance/v1/pro/fast/image-to-video (pricing)",
    "as_of": "2026-11-01",
}
# Days a generation stays in the trash (restorable) before `purge_trash` deletes it.
TRASH_RETENTION_DAYS = envint("TRASH_RETENTION_DAYS", 30)
# Deleting a generation removes its archived video and poster too (false: keep the objects).
DELETE_ARCHIVED_FILES = envbool("DELETE_ARCHIVED_FILES", True)

ARCHIVE_MAX_ATTEMPTS = envint("ARCHIVE_MAX_ATTEMPTS", 6)
# A live archiver renews its lease every third of this; a killed one's runs out this soon.
ARCHIVE_LEASE_SECONDS = envint("ARCHIVE_LEASE_SECONDS", 90)
ARCHIVE_MAX_BYTES = envint("ARCHIVE_MAX_BYTES", 4 * 1024**3)
RECONCILE_STALE_AFTER = envint("RECONCILE_STALE_AFTER", 120)

# --- Security ---------------------------------------------------------------

# Production defaults when DEBUG is off; each can be relaxed by its variable
# (e.g. SECURE_SSL_REDIRECT=false behind a proxy that already redirects).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("USE_X_FORWARDED_PROTO", not DEBUG) else None
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and styles only from this site's static files,
# no inline code anywhere (templates load generations/static/generations/*.js and *.css). On S3,
# img-src and media-src also get the storage's origin, where presigned media URLs point: the
# middleware (seedance_studio/content_security.py) takes it from a URL the storage makes, so it
# follows AWS_S3_ENDPOINT_URL, AWS_S3_REGION_NAME, AWS_S3_ADDRESSING_STYLE and the bucket.
# With DEBUG on, django-csp leaves 404 and 500 pages without it (Django's debug pages are inline).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "media-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SILENCED_SYSTEM_CHECKS = envlist("SILENCED_SYSTEM_CHECKS", [])

# Error pages and reports never show secrets, including URLs that carry passwords.
DEFAULT_EXCEPTION_REPORTER_FILTER = "seedance_studio.redaction.SecretsExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "seedance_studio.redaction.SecretsExceptionReporter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "seedance_studio.redaction.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The file broker has no host; kombu warns about that on every connection.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}

# --- Cache and rate limits (generations/ratelimits.py) ---------------------------
# One cache shared by every web process: the rate limiter counts failed logins and uploads
# there (and fal's webhook key set is kept there). CACHE_URL picks a Redis server; by default
# it is the broker's Redis when the broker is Redis, on the next database number (the broker's
# own database is never flushed by a cache clear). Embedded mode keeps the cache in files under
# var/cache, shared by the processes of one machine without a server.
_broker = urlsplit(CELERY_BROKER_URL)
if _broker.scheme in ("redis", "rediss"):
    _broker_db = int(_broker.path.strip("/")) if _broker.path.strip("/").isdigit() else 0
    _default_cache_url = urlunsplit(_broker._replace(path=f"/{(_broker_db + 1) % 16}"))
else:
    _default_cache_url = ""
_cache_url = urlsplit(envstr("CACHE_URL", _default_cache_url))
if _cache_url.geturl():
    if _cache_url.scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(f"CACHE_URL must be a redis:// or rediss:// URL, not {_cache_url.scheme!r}.")
    _cache_options = {"socket_connect_timeout": 2, "socket_timeout": 2}  # fail in seconds, never hang
    # The credentials go in OPTIONS, whose "password" key error pages hide; LOCATION is shown.
    if _cache_url.username:
        _cache_options["username"] = _cache_url.username
    if _cache_url.password:
        _cache_options["password"] = _cache_url.password
    _cache_host = _cache_url.hostname or "localhost"
    _cache_host = f"[{_cache_host}]" if ":" in _cache_host else _cache_host
    _cache_netloc = f"{_cache_host}:{_cache_url.port}" if _cache_url.port else _cache_host
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": urlunsplit(_cache_url._replace(netloc=_cache_netloc)),
            "KEY_PREFIX": "seedance",
            "OPTIONS": _cache_options,
        }
    }
    # Django's own RedisCache increments atomically (INCR); django-ratelimit 4.1 predates it
    # and only lists django-redis as supported.
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.W001"]
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str((VAR_DIR / "cache").absolute()),
            "KEY_PREFIX": "seedance",
        }
    }
    # Files are shared by every process of the one machine embedded mode runs on. Their
    # increment is not atomic, so the rate limiter counts under a lock file in this folder.
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003", "django_ratelimit.W001"]

_RATE = re.compile(r"^[1-9]\d*/\d*[smhd]$")


def envrate(name: str, default: str) -> str:
    """A rate as "count/period": 5/15m is five per 15 minutes (s, m, h, d)."""
    value = envstr(name, default).strip()
    if not _RATE.match(value):
        raise ImproperlyConfigured(f"{name} must look like 5/15m (a count per s, m, h or d), not {value!r}.")
    return value


# RATELIMIT_ENABLE=false turns every limit off (never in production).
RATELIMIT_ENABLE = envbool("RATELIMIT_ENABLE", True)
# When the cache cannot be reached: refuse (false, the default) or let the request through.
RATELIMIT_FAIL_OPEN = envbool("RATELIMIT_FAIL_OPEN", False)
# Failed logins (gallery and admin) per username from one client address, and per address
# for any usernames; successful logins are not counted. The failure that reaches a limit
# (these two or the next) locks those logins for the limit's whole period (HTTP 429, a page
# saying how long to wait). Each attempt is counted before it is tried, so simultaneous
# attempts cannot pass a limit.
LOGIN_FAILURE_LIMIT = envrate("LOGIN_FAILURE_LIMIT", "5/15m")
LOGIN_FAILURE_LIMIT_PER_IP = envrate("LOGIN_FAILURE_LIMIT_PER_IP", "30/15m")
# Failed logins per account (username, case-folded) from every address together: stops a slow
# guess spread over many addresses. Reaching it locks the account for everyone, its owner too,
# until the period ends; hence a short period.
LOGIN_FAILURE_LIMIT_PER_ACCOUNT = envrate("LOGIN_FAILURE_LIMIT_PER_ACCOUNT", "20/h")
# Source images one person may upload (files, not requests) in the gallery.
UPLOAD_LIMIT = envrate("UPLOAD_LIMIT", "100/h")
# Collections one person may create in the gallery (generations/library_limits.py).
COLLECTION_CREATE_LIMIT = envrate("COLLECTION_CREATE_LIMIT", "30/h")
# The client address is REMOTE_ADDR, unless the app runs behind this many reverse proxies that
# each append to X-Forwarded-For (nginx, a load balancer): then it is the address the outermost
# of them saw. Set it only when every request comes through those proxies, or clients could
# choose their own address.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)
RATELIMIT_IP_META_KEY = "generations.ratelimits.client_ip"
# --- end of cache and rate limits --------------------------------------------------

# --- Exports (generations/exports.py) ---------------------------------------------
# A manifest of more videos than this is written by a worker and listed under "Your exports"
# with a download link; smaller ones stream in the request.
EXPORT_INLINE_MAX_ROWS = envint("EXPORT_INLINE_MAX_ROWS", 5000)
# Export requests (JSON or CSV, gallery or collection, small or large) one person may make.
EXPORT_LIMIT = envrate("EXPORT_LIMIT", "20/h")
