"""Pipeline steps with fal replaced at its one seam (the gateway functions).

These pin down the decisions: what is retried, what fails, what is never repeated.
The end-to-end tests run the same code against the simulator, a worker and S3.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from generations import fal_gateway, lifecycle, pipeline
from generations.fal_gateway import FalError, FalOutput, RequestStatus
from generations.models import Generation

S = Generation.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def fal():
    with (
        mock.patch("generations.fal_gateway.submit", autospec=True, return_value="req-1") as submit,
        mock.patch("generations.fal_gateway.status", autospec=True) as status,
        mock.patch("generations.fal_gateway.result", autospec=True) as result,
        mock.patch("generations.fal_gateway.cancel", autospec=True, return_value=True) as cancel,
        mock.patch("generations.pipeline.image_url_for_fal", autospec=True, return_value="data:image/png;base64,AA"),
        mock.patch("generations.pipeline._schedule_poll", autospec=True) as schedule_poll,
        mock.patch("generations.pipeline._schedule_archive", autospec=True) as schedule_archive,
    ):
        yield mock.Mock(
            submit=submit,
            status=status,
            result=result,
            cancel=cancel,
            schedule_poll=schedule_poll,
            schedule_archive=schedule_archive,
        )


def test_submit_sends_every_input_and_stores_the_request_id(generation, fal):
    pipeline.submit(generation.pk)
    arguments = fal.submit.call_args.args[0]
    assert arguments == {
        "prompt": generation.prompt_text,
        "image_url": "data:image/png;base64,AA",
        "aspect_ratio": "auto",
        "resolution": "1080p",
        "duration": "5",
        "camera_fixed": False,
        "seed": -1,
        "enable_safety_checker": True,
    }
    assert fal.submit.call_args.kwargs == {"webhook_url": None}
    generation.refresh_from_db()
    assert (generation.status, generation.fal_request_id, generation.attempts) == (S.SUBMITTED, "req-1", 1)
    fal.schedule_poll.assert_called_once()


def test_webhook_url_carries_the_generation_code(generation, fal, settings):
    settings.PUBLIC_BASE_URL = "https://studio.example.com"
    pipeline.submit(generation.pk)
    url = fal.submit.call_args.kwargs["webhook_url"]
    assert url.startswith("https://studio.example.com/webhooks/fal?generation=")
    reference = parse_qs(urlsplit(url).query)["generation"][0]
    # The code is signed: it reads back, and a bare or altered code does not.
    assert reference.startswith(f"{generation.code}:")
    assert pipeline.generation_code_from_reference(reference) == generation.code
    assert pipeline.generation_code_from_reference(str(generation.code)) is None
    assert pipeline.generation_code_from_reference(reference[:-2] + "xx") is None


def test_a_second_submit_of_the_same_generation_sends_nothing(generation, fal):
    pipeline.submit(generation.pk)
    pipeline.submit(generation.pk)
    assert fal.submit.call_count == 1


def test_an_interrupted_submit_is_never_repeated(generation, fal):
    """The marker is set but no id came back (the worker died mid-call): fail, do not pay twice."""
    Generation.objects.filter(pk=generation.pk).update(submit_started_at=timezone.now() - timedelta(minutes=5))
    pipeline.submit(generation.pk)
    fal.submit.assert_not_called()
    generation.refresh_from_db()
    assert generation.status == S.FAILED and generation.error_code == "submit_uncertain"
    assert "not sent again" in generation.error_message


def test_a_duplicate_submit_while_another_run_waits_for_fal_leaves_it_alone(generation, fal):
    """Two tasks for one generation: the second finds the first's fresh marker; that is not a doubt yet."""
    Generation.objects.filter(pk=generation.pk).update(submit_started_at=timezone.now() - timedelta(seconds=5))
    pipeline.submit(generation.pk)
    pipeline.reconcile(stale_after=0)
    fal.submit.assert_not_called()
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (S.PENDING, "")


def test_with_webhooks_an_interrupted_submit_waits_for_the_webhook_first(generation, fal, settings):
    settings.PUBLIC_BASE_URL = "https://studio.example.com"
    Generation.objects.filter(pk=generation.pk).update(submit_started_at=timezone.now() - timedelta(minutes=5))
    pipeline.submit(generation.pk)
    fal.submit.assert_not_called()
    assert Generation.objects.get(pk=generation.pk).status == S.PENDING
    Generation.objects.filter(pk=generation.pk).update(submit_started_at=timezone.now() - timedelta(hours=1))
    pipeline.reconcile(stale_after=0)
    assert Generation.objects.get(pk=generation.pk).error_code == "submit_uncertain"


def test_an_uncertain_answer_keeps_the_marker_and_is_not_retried(generation, fal):
    fal.submit.side_effect = FalError("broke", code="fal_no_answer", permanent=False, uncertain=True)
    pipeline.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.FAILED and generation.error_code == "submit_uncertain"
    assert fal.submit.call_count == 1


def test_a_transient_error_clears_the_marker_and_asks_for_a_retry(generation, fal):
    fal.submit.side_effect = FalError("busy", code="rate_limited", permanent=False, status_code=429)
    with pytest.raises(pipeline.RetryLater) as excinfo:
        pipeline.submit(generation.pk, attempt=2)
    assert excinfo.value.countdown == 4
    generation.refresh_from_db()
    assert generation.status == S.PENDING and generation.submit_started_at is None
    assert generation.error_code == "rate_limited" and "Retrying" in generation.error_message
    fal.submit.side_effect = None
    pipeline.submit(generation.pk)
    assert Generation.objects.get(pk=generation.pk).status == S.SUBMITTED


def test_transient_errors_give_up_after_the_limit(generation, fal, settings):
    settings.FAL_SUBMIT_MAX_RETRIES = 2
    fal.submit.side_effect = FalError("fal had a server error (500)", code="fal_server_error", permanent=False)
    pipeline.submit(generation.pk, attempt=3)
    generation.refresh_from_db()
    assert generation.status == S.FAILED and generation.error_code == "fal_server_error"


def test_a_422_fails_at_once_with_fal_s_reason(generation, fal):
    fal.submit.side_effect = FalError("fal refused the input: prompt: too long", code="invalid_input", permanent=True)
    pipeline.submit(generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (S.FAILED, "invalid_input")
    assert generation.error_message == "fal refused the input: prompt: too long"
    assert fal.submit.call_count == 1


@pytest.fixture
def submitted(generation, fal):
    pipeline.submit(generation.pk)
    generation.refresh_from_db()
    Generation.objects.filter(pk=generation.pk).update(next_poll_at=timezone.now())
    return generation


def test_poll_records_queue_position_then_progress_and_logs(submitted, fal):
    fal.status.return_value = RequestStatus(state="IN_QUEUE", queue_position=3)
    pipeline.poll(submitted.pk)
    submitted.refresh_from_db()
    assert (submitted.status, submitted.queue_position) == (S.IN_QUEUE, 3)
    # The next poll is due later: an early duplicate poll does nothing.
    pipeline.poll(submitted.pk)
    assert fal.status.call_count == 1
    Generation.objects.filter(pk=submitted.pk).update(next_poll_at=timezone.now())
    fal.status.return_value = RequestStatus(state="IN_PROGRESS", logs=[{"message": "step 1"}])
    pipeline.poll(submitted.pk)
    submitted.refresh_from_db()
    assert (submitted.status, submitted.queue_position, submitted.fal_logs) == (
        S.IN_PROGRESS,
        None,
        [{"message": "step 1"}],
    )
    assert submitted.started_at is not None


def test_poll_takes_the_result_and_starts_the_archive(submitted, fal):
    fal.status.return_value = RequestStatus(state="COMPLETED", logs=[{"message": "done"}])
    fal.result.return_value = FalOutput(video_url="https://fal.media/v.mp4", seed=77, raw={})
    pipeline.poll(submitted.pk)
    submitted.refresh_from_db()
    assert (submitted.status, submitted.fal_video_url, submitted.seed_used) == (
        S.ARCHIVING,
        "https://fal.media/v.mp4",
        77,
    )
    fal.schedule_archive.assert_called_once_with(submitted.pk)


def test_completed_with_an_error_fails_with_the_error_from_the_result(submitted, fal):
    fal.status.return_value = RequestStatus(
        state="COMPLETED", error="Invalid status code: 422", error_type="value_error"
    )
    fal.result.side_effect = FalError(
        "fal refused the input: image_url: bad",
        code="invalid_input",
        permanent=True,
        status_code=422,
        detail=[{"loc": ["body", "image_url"], "msg": "bad", "type": "value_error"}],
    )
    pipeline.poll(submitted.pk)
    submitted.refresh_from_db()
    assert (submitted.status, submitted.error_code) == (S.FAILED, "invalid_input")
    assert "image_url: bad" in submitted.error_message


def test_a_status_outage_is_noted_and_polled_again(submitted, fal):
    fal.status.side_effect = FalError("fal had a server error (503)", code="fal_server_error", permanent=False)
    pipeline.poll(submitted.pk)
    submitted.refresh_from_db()
    assert submitted.status == S.SUBMITTED and submitted.error_code == "fal_server_error"
    assert submitted.next_poll_at > timezone.now()
    assert fal.schedule_poll.call_count == 2  # after submit, and again now


def test_webhook_and_poll_racing_archive_once(submitted, fal):
    output = FalOutput(video_url="https://fal.media/v.mp4", seed=1, raw={})
    assert pipeline.record_completion(submitted.pk, output) is True
    assert pipeline.record_completion(submitted.pk, output) is False
    fal.schedule_archive.assert_called_once()


def test_cancel_pending_is_immediate_and_the_submit_then_sends_nothing(generation, fal):
    assert pipeline.cancel(generation) == S.CANCELLED
    pipeline.submit(generation.pk)
    fal.submit.assert_not_called()


def test_cancel_running_asks_fal_and_then_ends_cancelled(submitted, fal):
    assert pipeline.cancel(submitted) == S.CANCELLING
    fal.cancel.assert_called_once_with("req-1")
    fal.status.return_value = RequestStatus(state="COMPLETED", error="cancelled")
    fal.result.side_effect = FalError("fal answered 400", code="fal_http_error", permanent=True)
    pipeline.poll(submitted.pk)
    assert Generation.objects.get(pk=submitted.pk).status == S.CANCELLED


def test_a_running_request_that_finishes_despite_cancel_is_kept(submitted, fal):
    pipeline.cancel(submitted)
    fal.status.return_value = RequestStatus(state="COMPLETED")
    fal.result.return_value = FalOutput(video_url="https://fal.media/v.mp4", seed=5, raw={})
    pipeline.poll(submitted.pk)
    assert Generation.objects.get(pk=submitted.pk).status == S.ARCHIVING


def test_cancel_of_a_request_fal_already_finished_leaves_it_to_the_poll(submitted, fal):
    fal.cancel.return_value = False  # fal: ALREADY_COMPLETED
    assert pipeline.cancel(submitted) == S.CANCELLING
    fal.status.return_value = RequestStatus(state="COMPLETED")
    fal.result.return_value = FalOutput(video_url="https://fal.media/v.mp4", seed=5, raw={})
    pipeline.poll(submitted.pk)
    assert Generation.objects.get(pk=submitted.pk).status == S.ARCHIVING


def test_cancel_of_a_finished_generation_is_refused(submitted, fal):
    Generation.objects.filter(pk=submitted.pk).update(status=S.FAILED)
    with pytest.raises(lifecycle.IllegalTransition):
        pipeline.cancel(submitted)
    fal.cancel.assert_not_called()


def test_reconcile_resumes_lost_work_and_only_that(generation, fal, source_image, prompt):
    from generations import services

    fresh = services.generation_create(
        source_image=source_image, prompt=prompt, params=services.GenerationParams(), submit=False
    )
    old = timezone.now() - timedelta(hours=1)
    Generation.objects.filter(pk=generation.pk).update(created_at=old)
    with mock.patch("generations.tasks.submit_generation.delay") as submit_delay:
        report = pipeline.reconcile(stale_after=60)
    submit_delay.assert_called_once_with(generation.pk)
    assert report.submitted == 1 and fresh.pk != generation.pk

    pipeline.submit(generation.pk)
    Generation.objects.filter(pk=generation.pk).update(next_poll_at=old)
    fal.schedule_poll.reset_mock()
    assert pipeline.reconcile(stale_after=60).polled == 1
    fal.schedule_poll.assert_called_once_with(generation.pk, 0)


def test_describe_fal_detail_reads_pydantic_style_errors():
    detail = [{"loc": ["body", "duration"], "msg": "must be 2..12"}, {"loc": ["body"], "msg": "bad"}]
    assert fal_gateway.describe_fal_detail(detail) == "duration: must be 2..12; bad"
    assert fal_gateway.describe_fal_detail("Request timed out") == "Request timed out"


@pytest.mark.parametrize(
    ("status_code", "code", "permanent"),
    [
        (422, "invalid_input", True),
        (401, "fal_auth", True),
        (404, "not_found", True),
        (429, "rate_limited", False),
        (500, "fal_server_error", False),
        (503, "fal_server_error", False),
        (400, "fal_http_error", True),
    ],
)
def test_http_errors_are_classified(status_code, code, permanent):
    error = fal_gateway._http_error(status_code, "detail", {})
    assert (error.code, error.permanent, error.status_code) == (code, permanent, status_code)


def test_an_archive_lease_blocks_others_but_not_the_same_task_redelivered(submitted, fal):
    pipeline.record_completion(submitted.pk, FalOutput(video_url="https://fal.media/v.mp4", seed=1, raw={}))
    Generation.objects.filter(pk=submitted.pk).update(
        archive_lease_until=timezone.now() + timedelta(minutes=30), archive_lease_owner="task-1"
    )
    with mock.patch("generations.pipeline.archive_video", autospec=True) as archive_video:
        archive_video.side_effect = pipeline.ArchiveError("download_failed", "boom", retryable=True)
        pipeline.archive(submitted.pk, owner="task-2")  # another archiver: leave it alone
        archive_video.assert_not_called()
        with pytest.raises(pipeline.RetryLater):
            pipeline.archive(submitted.pk, owner="task-1")  # its worker died; the redelivery takes over
        archive_video.assert_called_once()
    submitted.refresh_from_db()
    assert submitted.archive_lease_until is None and submitted.error_code == "download_failed"


# --- issue 11, item 2: a request fal ended with an error is final, in bounded time ------------


def _server_error(status_code: int) -> FalError:
    message = f"fal had a server error ({status_code})"
    return FalError(message, code="fal_server_error", permanent=False, status_code=status_code)


@pytest.mark.parametrize(
    ("error_type", "result_error"),
    [
        ("request_timeout", _server_error(504)),
        ("runner_disconnected", _server_error(503)),
        ("runner_server_error", FalError("connection reset", code="fal_no_answer", permanent=False)),
    ],
)
def test_completed_with_an_error_fails_at_once_even_if_the_result_answers_5xx(submitted, fal, error_type, result_error):
    lifecycle.transition(submitted, S.IN_PROGRESS)
    fal.schedule_poll.reset_mock()
    fal.status.return_value = RequestStatus(state="COMPLETED", error="Request timed out", error_type=error_type)
    fal.result.side_effect = result_error
    pipeline.poll(submitted.pk)
    submitted.refresh_from_db()
    assert (submitted.status, submitted.error_code) == (S.FAILED, error_type)
    assert "fal ended the request with an error: Request timed out" in submitted.error_message
    assert submitted.cost == 0 and submitted.cost_note == ""  # fal never bills a server error
    assert fal.result.call_count == 1  # asked once, for the detail; no second round
    fal.schedule_poll.assert_not_called()
    assert submitted.next_poll_at is None


def test_a_refused_input_after_the_runner_started_keeps_its_estimate_as_may_be_charged(submitted, fal):
    lifecycle.transition(submitted, S.IN_PROGRESS)
    fal.status.return_value = RequestStatus(
        state="COMPLETED", error="Invalid status code: 422", error_type="value_error"
    )
    fal.result.side_effect = FalError(
        "fal refused the input", code="invalid_input", permanent=True, status_code=422, detail=[{"msg": "bad"}]
    )
    pipeline.poll(submitted.pk)
    submitted.refresh_from_db()
    assert (submitted.status, submitted.error_code) == (S.FAILED, "invalid_input")
    assert submitted.cost == submitted.estimated_cost > 0
    assert submitted.cost_note.startswith("May be charged")


def test_a_result_that_keeps_failing_after_a_clean_completion_ends_after_the_limit(submitted, fal, settings):
    settings.FAL_RESULT_MAX_ATTEMPTS = 3
    fal.status.return_value = RequestStatus(state="COMPLETED")
    fal.result.side_effect = FalError("fal had a server error (500)", code="fal_server_error", permanent=False)
    for attempt in (1, 2):
        Generation.objects.filter(pk=submitted.pk).update(next_poll_at=None)
        pipeline.poll(submitted.pk)
        submitted.refresh_from_db()
        assert submitted.status == S.SUBMITTED and submitted.result_attempts == attempt
        assert f"try {attempt}" in submitted.error_message
    assert fal.schedule_poll.call_args_list[-1].args[1] == 4.0  # backing off: 2 s, then 4 s
    Generation.objects.filter(pk=submitted.pk).update(next_poll_at=None)
    pipeline.poll(submitted.pk)
    submitted.refresh_from_db()
    assert (submitted.status, submitted.error_code) == (S.FAILED, "fal_result_unavailable")
    assert "after 3 tries" in submitted.error_message and submitted.fal_request_id in submitted.error_message
    # fal finished it, so it is billed; and it can still be fetched and archived later.
    assert submitted.cost == submitted.estimated_cost > 0 and submitted.cost_note.startswith("Charged")
    assert submitted.can_archive_again


def test_archive_again_fetches_a_result_that_was_never_fetched(submitted, fal):
    Generation.objects.filter(pk=submitted.pk).update(
        status=S.FAILED, error_code="fal_result_unavailable", fal_video_url=""
    )
    submitted.refresh_from_db()
    pipeline.retry_archive(submitted)
    fal.result.return_value = FalOutput(video_url="https://v3.fal.media/files/v.mp4", seed=3_000_000_000, raw={})
    stop = RuntimeError("stop here")
    with (
        mock.patch("generations.pipeline.archive_video", autospec=True, side_effect=stop),
        pytest.raises(RuntimeError, match="stop here"),
    ):
        pipeline.archive(submitted.pk)
    submitted.refresh_from_db()
    assert (submitted.fal_video_url, submitted.seed_used) == ("https://v3.fal.media/files/v.mp4", 3_000_000_000)


def test_an_image_transport_that_does_not_fit_fails_with_the_reason_and_sends_nothing(generation, fal):
    with mock.patch(
        "generations.pipeline.image_url_for_fal",
        side_effect=ValueError("the image is 3.1 MB; FAL_DATA_URI_MAX_BYTES allows 2.0 MB"),
    ):
        pipeline.submit(generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (S.FAILED, "image_transport")
    assert "FAL_DATA_URI_MAX_BYTES" in generation.error_message
    fal.submit.assert_not_called()
