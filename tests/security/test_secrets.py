"""Secrets (FAL_KEY, AWS_SECRET_ACCESS_KEY, SECRET_KEY) never appear in pages, error pages, the
log, the fal logs and errors we store, or fal errors.

Each secret is a sentinel set both in the environment (where the app reads it, and where
seedance_studio.redaction looks for values to redact) and in settings.

AWS_ACCESS_KEY_ID is an identifier, not a secret: S3 puts it in every presigned URL the pages
hand out (X-Amz-Credential), so it is only checked where it is hidden by name (the debug
page's settings and environment tables).
"""

from __future__ import annotations

import io
import logging
import os
from unittest import mock

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from generations import fal_gateway, health, pipeline
from generations.models import Generation
from seedance_studio.redaction import RedactSecretsFilter

pytestmark = pytest.mark.django_db
S = Generation.Status
SECRET_NAMES = ("FAL_KEY", "AWS_SECRET_ACCESS_KEY", "SECRET_KEY")
NAMES = (*SECRET_NAMES, "AWS_ACCESS_KEY_ID")


@pytest.fixture
def secrets(monkeypatch, settings) -> dict[str, str]:
    # Built here, not written in the tests, so no test's source or locals hold them.
    values = {name: f"sentinel-{name.lower().replace('_', '-')}-" + "9f8e7d6c5b4a" for name in NAMES}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings.SECRET_KEY = values["SECRET_KEY"]
    settings.FAL_KEY = values["FAL_KEY"]
    return {name: values[name] for name in SECRET_NAMES}


@pytest.fixture
def access_key_id(secrets) -> str:
    return os.environ["AWS_ACCESS_KEY_ID"]


def assert_clean(text: str, secrets: dict[str, str], where: str) -> None:
    for name, value in secrets.items():
        assert value not in text, f"{name} appears in {where}"


def fal_says(secrets: dict[str, str]) -> str:
    """What a misbehaving proxy in front of fal might echo back: our request's headers."""
    return f"Authorization: Key {secrets['FAL_KEY']} (aws secret {secrets['AWS_SECRET_ACCESS_KEY']})"


@pytest.fixture
def leaky_generation(secrets, generation):
    """A generation whose fal logs and error went through the pipeline, each echoing the key."""
    Generation.objects.filter(pk=generation.pk).update(status=S.IN_PROGRESS, fal_request_id="req-leaky")
    generation.refresh_from_db()
    state = fal_gateway.RequestStatus(
        state="IN_PROGRESS",
        logs=[
            {"message": f"loading weights; {fal_says(secrets)}", "level": "INFO", "timestamp": "2026-11-01T10:00:00"},
            "a bare line with " + secrets["FAL_KEY"],
        ],
    )
    pipeline._record_progress(generation, state)
    generation.refresh_from_db()
    pipeline._fail(generation, "fal_server_error", f"fal had a server error (500): {fal_says(secrets)}")
    generation.refresh_from_db()
    return generation


# --- what we store ------------------------------------------------------------------------


def test_fal_logs_are_redacted_before_they_are_stored(leaky_generation, secrets):
    stored = Generation.objects.get(pk=leaky_generation.pk)
    assert_clean(repr(stored.fal_logs), secrets, "the stored fal logs")
    assert stored.fal_logs[0]["message"].startswith("loading weights; Authorization: Key ********")
    assert stored.fal_logs[0]["level"] == "INFO"
    assert stored.fal_logs[1] == "a bare line with ********"
    assert_clean(stored.error_message, secrets, "the stored error")
    assert stored.status == S.FAILED and "Key ********" in stored.error_message


def test_logs_taken_with_the_result_are_redacted_too(secrets, generation):
    Generation.objects.filter(pk=generation.pk).update(status=S.IN_PROGRESS, fal_request_id="req-done")
    generation.refresh_from_db()
    state = fal_gateway.RequestStatus(state="COMPLETED", logs=[{"message": fal_says(secrets)}])
    error = fal_gateway.FalError("fal is busy (429): " + fal_says(secrets), code="rate_limited", permanent=False)
    with (
        mock.patch("generations.fal_gateway.result", autospec=True, side_effect=error),
        mock.patch("generations.pipeline._schedule_poll", autospec=True),
    ):
        pipeline._take_completion(generation, state)
    generation.refresh_from_db()
    assert_clean(repr(generation.fal_logs), secrets, "the stored fal logs")
    assert_clean(generation.error_message, secrets, "the transient problem noted")
    assert generation.error_code == "rate_limited"


def test_fal_errors_never_carry_the_key(secrets):
    import fal_client

    echoed = fal_client.FalClientHTTPError(fal_says(secrets), 500, {}, response=httpx.Response(500))
    error = fal_gateway._translate(echoed)
    assert_clean(error.message, secrets, "a FalError")
    assert_clean(str(error), secrets, "a FalError")


def test_fal_errors_name_the_key_variable_never_its_value(secrets):
    import fal_client

    refused = fal_client.FalClientHTTPError("Invalid key " + secrets["FAL_KEY"], 401, {}, response=httpx.Response(401))
    error = fal_gateway._translate(refused)
    assert error.message == "fal refused the API key (check FAL_KEY)."


# --- pages ----------------------------------------------------------------------------------


def test_pages_never_show_the_secrets(leaky_generation, secrets, superuser):
    client = Client()
    client.force_login(superuser)
    code = leaky_generation.code
    pages = [
        "/",
        f"/generations/{code}/",
        "/images/",
        "/prompts/",
        "/collections/",
        reverse("admin:index"),
        reverse("admin:generations_generation_changelist"),
        reverse("admin:generations_generation_change", args=[leaky_generation.pk]),
        reverse("admin:generations_generation_generate"),
        reverse("dashboard"),
        "/healthz",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 503), url
        assert_clean(response.content.decode(), secrets, url)
    detail = client.get(f"/generations/{code}/").content.decode()
    assert "Key ********" in detail  # the redacted log line and error are there, just not the key


def test_a_failing_health_check_names_the_failure_not_the_secret(secrets, client):
    def broker_down():
        raise ConnectionError(f"redis://:{secrets['AWS_SECRET_ACCESS_KEY']}@redis:6379/0 refused; {fal_says(secrets)}")

    with mock.patch.dict(health.CHECKS, {"broker": broker_down}):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["error"] == "ConnectionError"
    assert_clean(response.content.decode(), secrets, "/healthz")


# --- errors: the log and the debug page ---------------------------------------------------------


def explode(secrets):
    """A view failing inside a call to fal, with the key in a local variable and in the message."""
    key = os.environ["FAL_KEY"]
    headers = {"Authorization": f"Key {key}"}  # noqa: F841 (a local the debug page would list)
    raise RuntimeError(f"fal answered 500 to {fal_says(secrets)}")


@pytest.fixture
def failing_gallery(secrets):
    with mock.patch("generations.views_library.gallery.card_queryset", side_effect=lambda: explode(secrets)):
        yield


def console_handler() -> logging.Handler:
    """The project's log handler (settings.LOGGING: console, with the redaction filter)."""
    for handler in logging.getLogger().handlers:
        if any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
            return handler
    raise AssertionError("no handler with the redaction filter on the root logger")


def test_the_log_of_a_server_error_holds_no_secret(failing_gallery, secrets, viewer, caplog):
    handler = console_handler()
    written = io.StringIO()
    previous = handler.setStream(written)
    try:
        client = Client(raise_request_exception=False)
        client.force_login(viewer)
        with caplog.at_level(logging.ERROR):
            response = client.get("/")
    finally:
        handler.setStream(previous)
    assert response.status_code == 500
    assert_clean(response.content.decode(), secrets, "the 500 page")
    log = written.getvalue()
    assert "Internal Server Error: /" in log and "RuntimeError" in log  # the error is logged, with its traceback
    assert "Key ********" in log
    assert_clean(log, secrets, "the log")
    # Every record of the error path, as the project's handler formats it.
    assert any(r.name == "django.request" for r in caplog.records)
    for record in caplog.records:
        handler.filter(record)
        assert_clean(handler.format(record), secrets, f"the log record {record.name}")


def debug_page(settings, secrets) -> str:
    settings.DEBUG = True
    # runserver puts the process environment into request.META: so does this client.
    return Client(raise_request_exception=False, **{name: os.environ[name] for name in NAMES})


def test_the_debug_page_hides_secret_settings_and_environment(
    failing_gallery, secrets, access_key_id, settings, viewer
):
    client = debug_page(settings, secrets)
    client.force_login(viewer)
    response = client.get("/", headers={"Authorization": f"Key {secrets['FAL_KEY']}"})
    assert response.status_code == 500
    page = response.content.decode()
    assert "RuntimeError" in page and "Settings" in page and "META" in page
    for name in NAMES:  # in the settings table and the request's META: named, value hidden
        assert f"<td>{name}</td>" in page
    assert page.count("********************") >= 4
    settings_and_meta = page[page.index('id="requestinfo"') :]
    assert_clean(settings_and_meta, {**secrets, "AWS_ACCESS_KEY_ID": access_key_id}, "the request and settings tables")


def test_the_debug_page_never_shows_a_secret(failing_gallery, secrets, settings, viewer):
    client = debug_page(settings, secrets)
    client.force_login(viewer)
    response = client.get("/")
    assert response.status_code == 500
    assert_clean(response.content.decode(), secrets, "the DEBUG=True error page")
