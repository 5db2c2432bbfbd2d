from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from seedance_studio.redaction import RedactSecretsFilter, redact


def test_secret_values_are_redacted_from_log_messages_and_tracebacks(monkeypatch, caplog):
    monkeypatch.setenv("FAL_KEY", "fal-secret-abcdef")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:db-password-123@h/db")
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactSecretsFilter())
    try:
        try:
            raise RuntimeError("auth failed with Key fal-secret-abcdef")
        except RuntimeError:
            logger.exception("calling fal with %s and %s", "fal-secret-abcdef", "db-password-123")
    finally:
        logger.filters.clear()
    text = caplog.text
    assert "fal-secret-abcdef" not in text
    assert "db-password-123" not in text
    assert "calling fal with ******** and ********" in text


def test_redact_leaves_ordinary_text_alone(monkeypatch):
    monkeypatch.setenv("FAL_KEY", "abc")  # too short to be a real secret: never redacted
    assert redact("abc def") == "abc def"


@pytest.fixture
def secrets_in_environment(monkeypatch):
    # Built here, so the test function below (whose source and locals the error page shows) holds none.
    monkeypatch.setenv("FAL_KEY", "fal-" + "secret-abcdef")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:broker" + "pw-123@h:6379/0")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:db-pass" + "word-123@h/db")


def _boom():
    raise ValueError("boom")


def test_error_page_hides_connection_urls_and_keys(secrets_in_environment, settings):
    request = RequestFactory().get("/")
    for name in ("FAL_KEY", "CELERY_BROKER_URL", "DATABASE_URL"):
        request.META[name] = os.environ[name]
    try:
        _boom()
    except ValueError as exc:
        html = ExceptionReporter(request, type(exc), exc, exc.__traceback__).get_traceback_html()
    assert "boom" in html
    secrets = [os.environ["FAL_KEY"], settings.SECRET_KEY]
    secrets += [urlsplit(os.environ[name]).password for name in ("CELERY_BROKER_URL", "DATABASE_URL")]
    for secret in secrets:
        assert secret not in html
