"""`manage.py fal_check` against the real fal simulator (and the live server for its webhook)."""

from __future__ import annotations

import io
import json
from unittest import mock

import httpx
import pytest
from django.core.management import call_command

from fal_simulator.server import DEFAULT_USER_ID
from generations import pricing, seedance, services
from generations.management.commands import fal_check
from generations.models import AuditEvent, Batch, Generation, Prompt, SourceImage
from tests.conftest import stored_files

STEPS = ["key", "image_transport", "submit", "status", "webhook", "result", "video", "size", "cost"]


def stored() -> tuple[dict, set]:
    models = (SourceImage, Prompt, Generation, Batch, AuditEvent)
    return {m.__name__: m.objects.count() for m in models}, stored_files()


def run_check(*args: str) -> tuple[int, dict]:
    out = io.StringIO()
    try:
        call_command("fal_check", "--json", "--timeout", "60", *args, stdout=out)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, json.loads(out.getvalue())


def steps_of(answer: dict) -> dict[str, dict]:
    return {step["name"]: step for step in answer["steps"]}


@pytest.fixture
def simulator(fal_simulator, settings):
    settings.PUBLIC_BASE_URL = ""
    fal_simulator.reset()
    yield fal_simulator
    fal_simulator.reset()


@pytest.mark.django_db
def test_every_step_passes_against_the_simulator_and_nothing_is_stored(simulator):
    before = stored()
    code, answer = run_check()
    assert code == 0, answer
    assert answer["ok"] is True and answer["simulated"] is True
    steps = steps_of(answer)
    assert list(steps) == STEPS
    assert all(step["ok"] for name, step in steps.items() if name != "webhook"), answer
    assert steps["webhook"]["ok"] is None and steps["webhook"]["skipped"] is True
    assert "PUBLIC_BASE_URL is not set" in steps["webhook"]["detail"]
    assert steps["key"]["detail"].startswith("The local fal simulator (")
    assert "404" in steps["key"]["detail"]
    # Local storage: the image is uploaded to fal's storage, from memory.
    assert steps["image_transport"]["mode"] == "upload"
    assert steps["status"]["states"][-1] == "COMPLETED"

    # One cheapest request, as the pipeline would send it.
    job = simulator.job(answer["request_id"])
    assert job.arguments["resolution"] == "480p" and job.arguments["duration"] == "2"
    assert job.arguments["aspect_ratio"] == "16:9" and job.webhook_url is None

    video = steps["video"]
    assert (video["width"], video["height"]) == seedance.output_size("480p", "16:9") == (864, 480)
    assert video["codec"] == "h264" and abs(video["duration"] - 2) < 0.2
    expected_cost = pricing.actual(width=864, height=480, seconds=video["duration"])
    assert answer["cost_usd"] == steps["cost"]["cost_usd"] == float(expected_cost)
    assert answer["estimate_usd"] == float(pricing.estimate(resolution="480p", aspect_ratio="16:9", duration=2))
    assert stored() == before  # a check, not a generation: no row, no file


@pytest.mark.django_db
def test_text_output_names_each_step(simulator):
    out = io.StringIO()
    call_command("fal_check", "--timeout", "60", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Checking the way to the local fal simulator (nothing is spent); no generation is stored."
    assert [line.split(":")[0].split()[-1] for line in lines[1:-1]] == STEPS
    assert lines[1].startswith("     ok  key: ")
    assert lines[5].startswith("skipped  webhook: ")
    assert lines[-1] == "No step failed."


@pytest.mark.django_db(transaction=True)
def test_the_webhook_step_waits_for_the_verified_webhook(simulator, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    code, answer = run_check()
    assert code == 0, answer
    webhook = steps_of(answer)["webhook"]
    assert webhook["ok"] is True, webhook
    assert webhook["url"] == f"{live_server.url}/webhooks/fal"
    assert webhook["user_id"] == DEFAULT_USER_ID
    job = simulator.job(answer["request_id"])
    assert job.webhook_url.startswith(f"{live_server.url}/webhooks/fal?check=")
    assert Generation.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_webhook_that_never_comes_fails_its_step(simulator, live_server, settings, monkeypatch):
    settings.PUBLIC_BASE_URL = live_server.url
    simulator.configure(webhook_drop=True)
    monkeypatch.setattr(fal_check, "WEBHOOK_WAIT_SECONDS", 1)
    code, answer = run_check()
    assert code == 1 and answer["ok"] is False
    steps = steps_of(answer)
    assert steps["webhook"]["ok"] is False
    assert "No verified webhook" in steps["webhook"]["detail"] and "within 1 s" in steps["webhook"]["detail"]
    # The other steps still ran and passed.
    assert all(steps[name]["ok"] for name in ("key", "image_transport", "submit", "status", "result", "video"))


@pytest.mark.django_db
def test_a_model_error_is_reported_as_failed_steps(simulator):
    simulator.configure(force_422=True)
    code, answer = run_check()
    assert code == 1 and answer["ok"] is False
    steps = steps_of(answer)
    assert [name for name, step in steps.items() if step["ok"] is False] == ["status", "result"]
    assert "fal reports the request failed" in steps["status"]["detail"]
    assert steps["result"]["detail"].startswith("fal's result is an error: fal refused the input: ")
    assert "video" not in steps and answer["cost_usd"] is None
    assert Generation.objects.count() == 0


@pytest.mark.django_db
def test_a_simulator_that_is_not_running_is_a_clear_failure(settings, tmp_path):
    settings.FAL_SIMULATOR_STATE_DIR = tmp_path  # no client.env here
    code, answer = run_check()
    assert code == 1
    [key] = answer["steps"]
    assert key["name"] == "key" and key["ok"] is False
    assert "the local fal simulator is used, but it is not running" in key["detail"]


@pytest.mark.django_db
def test_a_real_key_without_yes_spend_checks_key_and_image_but_submits_nothing(simulator, settings, monkeypatch):
    """With a real-looking key, every HTTP request is stopped at httpx's transport: nothing leaves
    this process. fal would answer the key check with a 404 and the upload with a CDN URL."""
    settings.FAL_KEY, settings.FAL_SIMULATED = "0f1e2d3c-real-looking:5a6b7c8d9e", False
    monkeypatch.delenv("FAL_QUEUE_RUN_HOST", raising=False)
    sent: list[httpx.Request] = []

    def fal_answers(transport, request: httpx.Request) -> httpx.Response:
        sent.append(request)
        path = request.url.path
        if path.endswith("/status"):
            return httpx.Response(404, json={"detail": "Request not found"}, request=request)
        if path.endswith("/storage/auth/token"):
            token = {"token": "t", "token_type": "Bearer", "base_url": "https://v3.fal.media"}
            return httpx.Response(200, json={**token, "expires_at": "2099-01-01T00:00:00+00:00"}, request=request)
        if path.endswith("/files/upload"):
            return httpx.Response(200, json={"access_url": "https://v3.fal.media/files/x/c.png"}, request=request)
        return httpx.Response(500, json={"detail": "not expected in this test"}, request=request)

    before, stats_before = stored(), simulator.stats()
    with mock.patch.object(httpx.HTTPTransport, "handle_request", autospec=True, side_effect=fal_answers):
        code, answer = run_check()
    assert code == 0, answer
    assert answer["simulated"] is False and answer["request_id"] is None and answer["cost_usd"] is None
    steps = steps_of(answer)
    assert list(steps) == ["key", "image_transport", "submit"]
    assert steps["key"]["ok"] is True and steps["image_transport"]["ok"] is True
    assert steps["image_transport"]["mode"] == "upload"
    submit = steps["submit"]
    assert submit["ok"] is None and "--yes-spend" in submit["detail"]
    estimate = pricing.estimate(resolution="480p", aspect_ratio="16:9", duration=2)
    assert submit["would_spend_usd"] == float(estimate) and f"${estimate:.4f}" in submit["detail"]
    # The key check and the (free) upload; no POST to the model, nothing to the simulator.
    assert [r.method for r in sent] == ["GET", "POST", "POST"]
    assert not any(seedance.MODEL_ID in r.url.path for r in sent if r.method == "POST")
    assert simulator.stats()["counters"] == stats_before["counters"]
    assert stored() == before


@pytest.mark.django_db
def test_a_refused_key_stops_the_check(simulator, settings, monkeypatch):
    settings.FAL_KEY, settings.FAL_SIMULATED = "wrong:key", False
    monkeypatch.delenv("FAL_QUEUE_RUN_HOST", raising=False)
    refused = httpx.Response(401, json={"detail": "No user found for Key ID and Secret"})
    with mock.patch.object(httpx.HTTPTransport, "handle_request", autospec=True, return_value=refused) as sent:
        code, answer = run_check("--yes-spend")
    assert code == 1
    [key] = answer["steps"]
    assert key["ok"] is False and "refused the key (HTTP 401): check FAL_KEY" in key["detail"]
    assert sent.call_count == 1


@pytest.mark.django_db
def test_with_s3_a_temporary_copy_is_presigned_then_deleted(simulator, s3, settings):
    settings.STORAGES = {**settings.STORAGES, "default": s3.storages_settings()}
    keys_before = set(s3.object_keys())
    code, answer = run_check()
    assert code == 0, answer
    transport = steps_of(answer)["image_transport"]
    assert transport["mode"] == "presigned"
    assert "a temporary copy in the storage" in transport["detail"]
    # fal (the simulator) fetched the presigned URL: the request rendered a video from it.
    assert steps_of(answer)["video"]["ok"] is True
    assert set(s3.object_keys()) == keys_before
    assert SourceImage.objects.count() == 0


@pytest.mark.django_db
def test_the_library_s_copy_of_the_demo_image_is_used_when_there_is_one(simulator):
    services.source_image_ingest(
        file=io.BytesIO(fal_check.CHECK_IMAGE.read_bytes()), filename=fal_check.CHECK_IMAGE.name
    )
    before = stored()
    code, answer = run_check()
    assert code == 0, answer
    assert "the library's copy of coffee.png" in steps_of(answer)["image_transport"]["detail"]
    assert stored() == before


@pytest.mark.django_db
def test_a_request_that_does_not_complete_in_time_is_cancelled(simulator):
    simulator.configure(queue_latency=30)
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("fal_check", "--json", "--timeout", "1", stdout=out)
    answer = json.loads(out.getvalue())
    status = steps_of(answer)["status"]
    assert status["ok"] is False
    assert status["detail"] == "Still IN_QUEUE after 1 s (--timeout); the request was cancelled."
    assert list(steps_of(answer)) == ["key", "image_transport", "submit", "status"]
    assert simulator.job(answer["request_id"]).outcome.error_type == "client_cancelled"
