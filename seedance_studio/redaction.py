"""Keep secrets out of logs and error pages.

Secrets are configured by environment variables; their *values* are redacted
wherever a log record or an exception report could carry them (a fal error
that echoes a header, a connection URL with a password in it).
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import urlsplit

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

SECRET_ENV_VARS = (
    "SECRET_KEY",
    "FAL_KEY",
    "FAL_KEY_SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "DEMO_ADMIN_PASSWORD",
)
# URLs whose password part is a secret.
SECRET_URL_ENV_VARS = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL")
REDACTED = "********"


def secret_values() -> list[str]:
    """Every secret value configured now, longest first (so substrings go last)."""
    values = [os.environ.get(name, "") for name in SECRET_ENV_VARS]
    for name in SECRET_URL_ENV_VARS:
        password = urlsplit(os.environ.get(name, "")).password
        values.append(password or "")
    # Very short values would redact ordinary words; a real secret is never that short.
    return sorted({v for v in values if len(v) >= 6}, key=len, reverse=True)


def redact(text: str) -> str:
    for value in secret_values():
        text = text.replace(value, REDACTED)
    return text


class RedactSecretsFilter(logging.Filter):
    """Logging filter: replaces secret values in the rendered message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter hides settings named *KEY*, *SECRET*...; also hide connection URLs."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|BROKER|RESULT_BACKEND",
        flags=re.IGNORECASE,
    )


class SecretsExceptionReporter(ExceptionReporter):
    """Error reports (the DEBUG page, admin error e-mails) with secret values taken out.

    The filter above hides settings by name; an exception's message or a frame's local
    variable can still hold a key (fal-client's Authorization header, a connection URL)."""

    def get_traceback_html(self):
        return redact(str(super().get_traceback_html()))

    def get_traceback_text(self):
        return redact(str(super().get_traceback_text()))
