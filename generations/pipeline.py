"""The generation pipeline: submit to fal, follow the request, archive the video.

Each step is a function of a generation id that is safe to run twice, late or
concurrently (Celery redelivers tasks of dead workers; a webhook and a poll can
arrive together). Steps claim their work with conditional UPDATEs and move the
status only through `lifecycle.transition`, so the database decides who wins.
No database transaction is held across a call to fal or to storage.

    submit ─► poll (backing off) ─┐
       webhook (signed) ──────────┴─► record_completion ─► archive ─► completed
    reconcile (beat + command): resumes whatever lost its task.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from seedance_studio.redaction import redact

from . import audit, fal_gateway, leases, lifecycle, pricing
from .archive import ArchiveError, archive_video
from .fal_gateway import FalError, FalOutput
from .image_transport import image_url_for_fal
from .lifecycle import IllegalTransition
from .models import Generation, generation_poster_upload_to, generation_video_upload_to

logger = logging.getLogger(__name__)
S = Generation.Status


class RetryLater(Exception):
    """A transient problem: the task should run again after `countdown` seconds."""

    def __init__(self, message: str, *, countdown: float):
        super().__init__(message)
        self.countdown = countdown

    def __reduce__(self):  # picklable for Celery's result backend (countdown is keyword-only)
        return _rebuild_retry_later, (str(self), self.countdown)


def _rebuild_retry_later(message: str, countdown: float) -> RetryLater:
    return RetryLater(message, countdown=countdown)


def _backoff(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    # Jitter is added by the task layer (Celery's retry_jitter); keep this deterministic.
    return min(cap, base * 2 ** max(0, attempt - 1))


# --- submit ---------------------------------------------------------------


_WEBHOOK_REFERENCE = signing.Signer(salt="generations.fal-webhook.generation")


def webhook_url_for(generation: Generation) -> str | None:
    """Where fal should report completion, or None when the app has no public URL."""
    if not settings.PUBLIC_BASE_URL:
        return None
    # The generation's code rides along, signed by us, so a webhook can be matched even when
    # the submit's answer (with the request id) was lost, and nobody can point a webhook of
    # their own at one of our generations (fal signs every customer's webhooks alike).
    query = urlencode({"generation": webhook_reference(generation)})
    return f"{settings.PUBLIC_BASE_URL}{reverse('fal-webhook')}?{query}"


def webhook_reference(generation: Generation) -> str:
    """The generation's code, signed with SECRET_KEY: what our webhook URL carries."""
    return _WEBHOOK_REFERENCE.sign(str(generation.code))


def generation_code_from_reference(reference: str | None) -> uuid.UUID | None:
    """The generation code our webhook URL carried, or None when missing, unsigned or tampered with."""
    if not reference or len(reference) > 200:
        return None
    try:
        return uuid.UUID(_WEBHOOK_REFERENCE.unsign(reference))
    except (signing.BadSignature, ValueError):
        return None


def submit(generation_id: int, *, attempt: int = 1) -> None:
    """Send a pending generation to fal's queue, once.

    The marker `submit_started_at` is set (atomically, only if unset) before the
    call. A second run that finds the marker set never submits again: if the first
    call may have reached fal, repeating it could pay twice.
    """
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None or generation.status != S.PENDING:
        return
    now = timezone.now()
    claimed = Generation.objects.filter(pk=generation_id, status=S.PENDING, submit_started_at__isnull=True).update(
        submit_started_at=now, updated_at=now
    )
    if not claimed:
        _resolve_submit_in_doubt(generation)
        return

    try:
        arguments = generation.fal_arguments(image_url=image_url_for_fal(generation.source_image))
        request_id = fal_gateway.submit(arguments, webhook_url=webhook_url_for(generation))
    except FalError as error:
        if error.uncertain:
            # Keep the marker: the request may exist at fal. A webhook may still reveal it.
            _note_problem(generation, error.code, f"{error.message} Not sent again, to avoid paying twice.")
            _resolve_submit_in_doubt(generation, call_over=True)
            return
        # fal certainly did not queue it: the marker comes off, so a retry may submit.
        Generation.objects.filter(pk=generation_id, status=S.PENDING).update(submit_started_at=None)
        if error.permanent or attempt > settings.FAL_SUBMIT_MAX_RETRIES:
            _fail(generation, error.code, error.message)
            return
        _note_problem(generation, error.code, f"{error.message} Retrying (attempt {attempt}).")
        raise RetryLater(error.message, countdown=_backoff(attempt)) from error
    except ValueError as error:
        # image_transport: the transport setting does not fit this image (e.g. data_uri and a large
        # image). Nothing was sent, and sending again cannot help until the setting changes.
        _fail(generation, "image_transport", f"The source image could not be made reachable by fal: {error}")
        return
    except Exception:
        # A bug or an unreadable image: nothing reached fal, so a retry may submit.
        Generation.objects.filter(pk=generation_id, status=S.PENDING).update(submit_started_at=None)
        raise
    _record_submitted(generation, request_id)


def _record_submitted(generation: Generation, request_id: str) -> None:
    first_poll = timezone.now() + timedelta(seconds=_first_poll_delay())
    try:
        lifecycle.transition(
            generation,
            S.SUBMITTED,
            fal_request_id=request_id,
            attempts=F("attempts") + 1,
            next_poll_at=first_poll,
            error_code="",
            error_message="",
        )
    except IllegalTransition:
        # Cancelled while we were submitting (or a webhook got here first, attaching the same id).
        current = Generation.objects.get(pk=generation.pk)
        if current.fal_request_id == request_id:
            return
        if current.status == S.CANCELLED:
            Generation.objects.filter(pk=generation.pk, fal_request_id="").update(fal_request_id=request_id)
            _cancel_at_fal_quietly(request_id)
            return
        raise
    _schedule_poll(generation.pk, _first_poll_delay())


def _resolve_submit_in_doubt(generation: Generation, *, call_over: bool = False) -> None:
    """A submit was started before and did not finish: never submit again.

    Unless `call_over` (the caller's own call just ended in doubt), the marker may be
    another run's that is still waiting for fal's answer; nothing is decided until no
    submit call can still be running.

    With webhooks, fal will tell us (the webhook URL carries the generation's code);
    wait for that up to FAL_SUBMIT_DOUBT_GRACE. Otherwise, or after that, fail with
    a reason that says exactly what is known.
    """
    generation.refresh_from_db()
    if generation.status != S.PENDING or generation.submit_started_at is None:
        return
    age = (timezone.now() - generation.submit_started_at).total_seconds()
    if not call_over and age < _longest_submit_call():
        return  # another run (a duplicate task) may be inside the call right now
    if settings.PUBLIC_BASE_URL and age < settings.FAL_SUBMIT_DOUBT_GRACE:
        return  # reconcile looks again later
    _fail(
        generation,
        "submit_uncertain",
        "The submission to fal was interrupted and it is unknown whether fal received it. It was not "
        "sent again, so you are not charged twice; check fal's request history, then retry if needed.",
    )


def _longest_submit_call() -> float:
    """Seconds a submit call can last: fal-client's attempts, each up to its timeout, and an image upload."""
    return settings.FAL_CLIENT_TIMEOUT * (settings.FAL_CLIENT_MAX_ATTEMPTS + 1) + 30


# --- follow the request ---------------------------------------------------


def _first_poll_delay() -> float:
    if settings.PUBLIC_BASE_URL:
        return settings.FAL_WEBHOOK_POLL_FALLBACK
    return settings.FAL_POLL_MIN_INTERVAL


def poll_interval(generation: Generation) -> float:
    """Seconds until the next status check: grows with the request's age, within bounds."""
    if settings.PUBLIC_BASE_URL and generation.status != S.CANCELLING:
        return max(settings.FAL_WEBHOOK_POLL_FALLBACK, settings.FAL_POLL_MAX_INTERVAL)
    since = generation.submitted_at or generation.created_at
    age = (timezone.now() - since).total_seconds()
    return min(settings.FAL_POLL_MAX_INTERVAL, max(settings.FAL_POLL_MIN_INTERVAL, age / 10))


def _schedule_poll(generation_id: int, countdown: float) -> None:
    from .tasks import poll_generation

    poll_generation.apply_async((generation_id,), countdown=countdown)


def poll(generation_id: int) -> None:
    """Ask fal how a request is doing; store progress; on completion, take the result.

    Only one poller works on a generation at a time: it claims the slot by moving
    `next_poll_at` forward. A poll that finds the slot taken (a second chain started
    by reconcile, a duplicate message) does nothing.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=60)
    claimed = Generation.objects.filter(
        Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now + timedelta(seconds=1)),
        pk=generation_id,
        status__in=Generation.IN_FLIGHT,
    ).update(next_poll_at=lease)
    if not claimed:
        return
    generation = Generation.objects.get(pk=generation_id)
    try:
        state = fal_gateway.status(generation.fal_request_id, with_logs=True)
    except FalError as error:
        if error.code == "not_found" and generation.status == S.CANCELLING:
            _end_cancelled(generation)
            return
        if error.permanent:
            _fail(generation, error.code, error.message)
            return
        _note_problem(generation, error.code, f"{error.message} Checking again shortly.")
        _reschedule(generation, poll_interval(generation))
        return

    if state.state == "COMPLETED":
        _take_completion(generation, state)
        return
    _record_progress(generation, state)
    generation.refresh_from_db()
    if generation.status in Generation.IN_FLIGHT:
        _reschedule(generation, poll_interval(generation))


def _reschedule(generation: Generation, delay: float) -> None:
    Generation.objects.filter(pk=generation.pk, status__in=Generation.IN_FLIGHT).update(
        next_poll_at=timezone.now() + timedelta(seconds=delay)
    )
    _schedule_poll(generation.pk, delay)


def _record_progress(generation: Generation, state: fal_gateway.RequestStatus) -> None:
    target = S.IN_QUEUE if state.state == "IN_QUEUE" else S.IN_PROGRESS
    fields = {"queue_position": state.queue_position if target == S.IN_QUEUE else None}
    if state.logs:
        fields["fal_logs"] = redact_logs(state.logs)
    if generation.status != target and lifecycle.can_transition(generation.status, target):
        try:
            lifecycle.transition(generation, target, **fields)
            return
        except IllegalTransition:
            pass  # moved on meanwhile (e.g. a webhook completed it): progress is stale
    lifecycle.record_progress(generation, **fields)


def redact_logs(logs: list) -> list:
    """fal's log lines as they are stored (and shown): a secret echoed in one is redacted."""
    return [
        {k: redact(v) if isinstance(v, str) else v for k, v in entry.items()}
        if isinstance(entry, dict)
        else redact(str(entry))
        for entry in logs
    ]


def _take_completion(generation: Generation, state: fal_gateway.RequestStatus) -> None:
    if state.logs:
        lifecycle.record_progress(generation, fal_logs=redact_logs(state.logs))
    if state.error or state.error_type:
        _take_failed_completion(generation, state)
        return
    try:
        output = fal_gateway.result(generation.fal_request_id)
    except FalError as error:
        if generation.status == S.CANCELLING:
            _end_cancelled(generation)
        elif error.permanent:
            _fail_from_fal(generation, error.status_code, error.error_type, error.message, error.detail, state)
        else:
            _result_not_fetched(generation, error)
        return
    record_completion(generation.pk, output)


def _take_failed_completion(generation: Generation, state: fal_gateway.RequestStatus) -> None:
    """fal ended the request with an error: final, whatever its result route answers.

    The result is asked once, only for its detail (a 422's items say which input and why);
    a 5xx or a broken connection there changes nothing.
    """
    if generation.status == S.CANCELLING:
        _end_cancelled(generation)
        return
    status_code, detail = None, None
    try:
        fal_gateway.result(generation.fal_request_id)
    except FalError as error:
        status_code, detail = error.status_code, error.detail
    _fail_from_fal(generation, status_code, state.error_type, state.error, detail, state)


def _fail_from_fal(generation, status_code, error_type, error, detail, state=None) -> bool:
    started = bool(generation.started_at) or bool(state and (state.metrics or {}).get("inference_time"))
    failure = fal_gateway.failure_of(
        error=error, error_type=error_type, status_code=status_code, detail=detail, started=started
    )
    return _fail(generation, failure.code, failure.message, may_be_charged=failure.may_be_billed)


def _result_not_fetched(generation: Generation, error: FalError) -> None:
    """fal said COMPLETED without an error, but its result could not be fetched: try a bounded number of times."""
    Generation.objects.filter(pk=generation.pk).update(result_attempts=F("result_attempts") + 1)
    generation.refresh_from_db(fields=["result_attempts"])
    attempt = generation.result_attempts
    if attempt >= settings.FAL_RESULT_MAX_ATTEMPTS:
        # fal finished it, so it is billed: the reservation stays, and "archive again" asks fal once more.
        _fail(
            generation,
            "fal_result_unavailable",
            f"fal finished the video but its result could not be fetched after {attempt} tries "
            f"({error.message}). The request ({generation.fal_request_id}) is kept: archive again to fetch it "
            "later, without generating again.",
            may_be_charged=True,
            charged_note="Charged: fal finished it, but the video could not be fetched yet.",
        )
        return
    _note_problem(generation, error.code, f"{error.message} Fetching the result again (try {attempt}).")
    _reschedule(generation, _backoff(attempt, base=settings.FAL_POLL_MIN_INTERVAL))


def record_completion(generation_id: int, output: FalOutput) -> bool:
    """fal finished with a video: keep its URL and seed and start the archive (once).

    Returns False when the generation had already moved on (a second webhook, or a
    poll racing a webhook): nothing is done twice.
    """
    generation = Generation.objects.get(pk=generation_id)
    try:
        lifecycle.transition(
            generation,
            S.ARCHIVING,
            fal_video_url=output.video_url,
            seed_used=output.seed,
            queue_position=None,
            next_poll_at=None,
            error_code="",
            error_message="",
        )
    except IllegalTransition:
        return False
    _schedule_archive(generation.pk)
    return True


# --- archive ----------------------------------------------------------------


def _schedule_archive(generation_id: int, countdown: float = 0) -> None:
    from .tasks import archive_generation

    archive_generation.apply_async((generation_id,), countdown=countdown)


def archive(generation_id: int, *, owner: str = "") -> None:
    """Copy fal's video into our storage, measure it and make its poster.

    One archiver at a time holds a lease (`owner` is the Celery task id, so the same task
    redelivered after a worker died takes over at once). The video is never generated
    again, only downloaded again from the kept fal URL. Raises RetryLater for a
    retryable failure.
    """
    owner = owner or f"local-{uuid.uuid4().hex}"
    if not leases.claim(generation_id, owner):
        return
    generation = Generation.objects.get(pk=generation_id)
    # Trust the simulator's TLS for its media URLs; if it is down, the download fails (retryably).
    with contextlib.suppress(FalError):
        fal_gateway.configure_process()
    if not generation.fal_video_url and not _fetch_video_url(generation, owner):
        return
    try:
        with leases.kept_alive(generation_id, owner):
            archived = archive_video(
                url=generation.fal_video_url,
                video_key=generation_video_upload_to(generation, ""),
                poster_key=generation_poster_upload_to(generation, ""),
                expected_duration=float(generation.duration),
                max_bytes=settings.ARCHIVE_MAX_BYTES,
                first_attempt=generation.archive_attempts == 1,
                url_allowed=fal_gateway.media_url_allowed,
            )
    except ArchiveError as error:
        leases.release(generation_id, owner)
        attempt = generation.archive_attempts
        if not error.retryable or attempt >= settings.ARCHIVE_MAX_ATTEMPTS:
            _fail(
                generation,
                error.code,
                f"{error} (after {attempt} archive attempt{'s' if attempt != 1 else ''}; "
                "fal's video URL is kept, so the archive can be retried without generating again)",
            )
            return
        _note_problem(generation, error.code, f"{error} Archive attempt {attempt} failed; retrying.")
        raise RetryLater(str(error), countdown=_backoff(attempt, base=5.0)) from error
    except Exception:
        leases.release(generation_id, owner)
        raise

    facts = archived.facts
    lifecycle.transition(
        generation,
        S.COMPLETED,
        video=archived.video_name,
        poster=archived.poster_name,
        video_duration=facts.duration,
        video_width=facts.width,
        video_height=facts.height,
        video_fps=facts.fps,
        video_codec=facts.codec,
        video_bytes=archived.size_bytes,
        video_sha256=archived.sha256,
        cost=pricing.actual(width=facts.width, height=facts.height, seconds=facts.duration),
        cost_note="",
        archive_lease_until=None,
        error_code="",
        error_message="",
    )
    logger.info("Archived generation %s (%s bytes)", generation.code, archived.size_bytes)


def _fetch_video_url(generation: Generation, owner: str) -> bool:
    """An archive of a request whose result was never fetched (fal_result_unavailable): ask fal for it now."""
    try:
        output = fal_gateway.result(generation.fal_request_id)
    except FalError as error:
        leases.release(generation.pk, owner)
        attempt = generation.archive_attempts
        if error.permanent or attempt >= settings.ARCHIVE_MAX_ATTEMPTS:
            _fail(
                generation,
                "fal_result_unavailable",
                f"fal's result could not be fetched ({error.message}); the request ({generation.fal_request_id}) "
                "is kept, so archiving can be tried again later.",
                may_be_charged=True,
                charged_note="Charged: fal finished it, but the video could not be fetched yet.",
            )
            return False
        _note_problem(generation, error.code, f"{error.message} Fetching the result again.")
        raise RetryLater(error.message, countdown=_backoff(attempt, base=5.0)) from error
    Generation.objects.filter(pk=generation.pk).update(fal_video_url=output.video_url, seed_used=output.seed)
    generation.refresh_from_db()
    return True


def retry_archive(generation: Generation) -> None:
    """Archive a failed generation again from its kept fal URL or request (no new fal request)."""
    generation.refresh_from_db()
    if not generation.can_archive_again:
        raise IllegalTransition(generation, S.ARCHIVING, generation.status)
    lifecycle.transition(generation, S.ARCHIVING, archive_lease_until=None, archive_attempts=0)
    _schedule_archive(generation.pk)


# --- cancel -----------------------------------------------------------------


def cancel(generation: Generation) -> str:
    """Cancel a pending, queued or running generation; returns its status afterwards.

    A pending one is cancelled at once. One at fal gets fal's cancel and becomes
    "cancelling": a running request may still finish, and then its (paid) video is kept.
    """
    generation.refresh_from_db()
    if generation.status == S.PENDING:
        lifecycle.transition(
            generation, S.CANCELLED, error_code="cancelled", error_message="Cancelled before it was sent to fal."
        )
        return generation.status
    # "cancelling" first: fal may report the cancelled request (by webhook) before its
    # answer to the cancel call reaches us, and that report must find the intent recorded.
    lifecycle.transition(generation, S.CANCELLING, next_poll_at=timezone.now())
    try:
        fal_gateway.cancel(generation.fal_request_id)  # False: it already finished; the poll archives it
    finally:
        # Look at once: a cancelled request ends cancelled, one that finished anyway is archived.
        _schedule_poll(generation.pk, 0)
    generation.refresh_from_db()
    return generation.status


def _cancel_at_fal_quietly(request_id: str) -> None:
    try:
        fal_gateway.cancel(request_id)
    except FalError as error:
        logger.warning("Could not cancel fal request %s: %s", request_id, error)


def _end_cancelled(generation: Generation) -> bool:
    try:
        lifecycle.transition(
            generation, S.CANCELLED, next_poll_at=None, error_code="cancelled", error_message="Cancelled at fal."
        )
    except IllegalTransition:
        return False
    return True


# --- webhooks ---------------------------------------------------------------


def handle_webhook(*, signed, generation_reference: str | None, payload: dict) -> str:
    """Apply a verified fal webhook; returns what was done (for the response and the log).

    `signed` is what fal's signature vouches for (request id, user id). Deliveries repeat
    (fal retries for hours) and race the poller: whichever comes second finds the
    generation moved on and does nothing.
    """
    ids = {signed.request_id, payload.get("request_id"), payload.get("gateway_request_id")} - {None, ""}
    generation = _generation_for_webhook(
        ids, payload.get("request_id") or signed.request_id, signed, generation_reference
    )
    if generation is None:
        return "unknown request"
    if payload.get("status") == "OK":
        if payload.get("payload") is None:
            # fal could not put the result in the webhook (payload_error): fetch it through the queue.
            _poll_now(generation)
            return "fetching the result"
        try:
            output = fal_gateway.parse_output(payload.get("payload"))
        except FalError as error:
            _fail(generation, error.code, error.message, may_be_charged=True)
            return "failed"
        return "archiving" if record_completion(generation.pk, output) else "already handled"
    body = payload.get("payload") if isinstance(payload.get("payload"), dict) else {}
    match = re.search(r"\b([1-5][0-9][0-9])\b", str(payload.get("error") or ""))
    if generation.status == S.CANCELLING:
        done = _end_cancelled(generation)
    else:
        done = _fail_from_fal(
            generation,
            int(match.group(1)) if match else None,
            body.get("error_type"),
            payload.get("error"),
            body.get("detail"),
        )
    return "recorded failure" if done else "already handled"


def _poll_now(generation: Generation) -> None:
    Generation.objects.filter(pk=generation.pk, status__in=Generation.IN_FLIGHT).update(next_poll_at=timezone.now())
    _schedule_poll(generation.pk, 0)


def _generation_for_webhook(ids: set[str], request_id: str, signed, reference: str | None) -> Generation | None:
    """The generation a verified webhook is about: by its request id (either of fal's two), or, only
    when that generation's own submit is in doubt, by the signed reference in our webhook URL."""
    generation = Generation.objects.filter(fal_request_id__in=ids).first()
    if generation is not None:
        if not generation.fal_user_id:
            # A request we submitted ourselves: its signer is our fal account.
            Generation.objects.filter(pk=generation.pk).update(fal_user_id=signed.user_id[:128])
        return generation
    code = generation_code_from_reference(reference)
    if code is None:
        if reference:
            logger.warning("fal webhook for %s carried a generation reference that is not ours; ignored", request_id)
        return None
    generation = Generation.objects.filter(code=code).first()
    if generation is None or not _adoptable(generation, signed):
        return None
    return _adopt(generation, request_id, signed)


def _adoptable(generation: Generation, signed) -> bool:
    """Only a generation whose own submit may have reached fal, and only from our own fal account."""
    in_doubt = (generation.status == S.PENDING and generation.submit_started_at is not None) or (
        generation.status == S.FAILED and generation.error_code == "submit_uncertain"
    )
    if not in_doubt or generation.fal_request_id:
        logger.warning("fal webhook may not adopt generation %s (%s)", generation.code, generation.status)
        return False
    account = fal_account_user_id()
    if account and signed.user_id != account:
        logger.warning("fal webhook for generation %s was signed for another fal account; ignored", generation.code)
        return False
    return True


def fal_account_user_id() -> str:
    """Our fal account's user id: configured, or learnt from a webhook of a request we submitted."""
    if settings.FAL_ACCOUNT_USER_ID:
        return settings.FAL_ACCOUNT_USER_ID
    learnt = Generation.objects.exclude(fal_user_id="").order_by("-id").values_list("fal_user_id", flat=True)
    return learnt.first() or ""


def _adopt(generation: Generation, request_id: str, signed) -> Generation | None:
    """The submit's answer was lost: the webhook tells us the request id. Audited."""
    was = generation.status
    fields = {"fal_request_id": request_id, "fal_user_id": signed.user_id[:128]}
    try:
        if was == S.PENDING:
            lifecycle.transition(generation, S.SUBMITTED, attempts=F("attempts") + 1, **fields)
        else:
            # Failed as uncertain, and fal did take it: keep the request (and its video) after all.
            updated = Generation.objects.filter(
                pk=generation.pk, status=S.FAILED, error_code="submit_uncertain", fal_request_id=""
            ).update(**fields)
            if not updated:
                return None
            generation.refresh_from_db()
    except IllegalTransition:
        generation.refresh_from_db()
        return generation if generation.fal_request_id == request_id else None
    audit.record(
        audit.Action.WEBHOOK_ADOPT,
        actor=None,
        generation=generation,
        message=f"fal's webhook revealed request {request_id} for this generation, whose submit was in doubt ({was}).",
        request_id=request_id,
        fal_user_id=signed.user_id,
        status_before=was,
    )
    return generation


# --- shared -----------------------------------------------------------------


def _fail(
    generation: Generation,
    code: str,
    message: str,
    *,
    may_be_charged: bool = False,
    charged_note: str = "May be charged: fal bills a refused input when a runner already worked on it.",
) -> bool:
    """End the generation failed. The money settles to nothing, unless fal may bill it (its estimate stays)."""
    settlement = {"cost": F("estimated_cost"), "cost_note": charged_note} if may_be_charged else {}
    try:
        lifecycle.transition(
            generation,
            S.FAILED,
            error_code=code[:64],
            error_message=redact(message),
            next_poll_at=None,
            archive_lease_until=None,
            last_error_at=timezone.now(),
            **settlement,
        )
    except IllegalTransition:
        return False
    logger.warning("Generation %s failed: %s: %s", generation.code, code, message)
    return True


def _note_problem(generation: Generation, code: str, message: str) -> None:
    """Record a transient problem without changing the status (pages show it as "retrying")."""
    Generation.objects.filter(pk=generation.pk).exclude(status__in=Generation.ENDS).update(
        error_code=code[:64], error_message=redact(message), last_error_at=timezone.now()
    )
    logger.info("Generation %s: %s: %s", generation.code, code, message)


# --- reconcile --------------------------------------------------------------


@dataclass
class ReconcileReport:
    polled: int = 0
    archived: int = 0
    submitted: int = 0
    failed_uncertain: int = 0

    def __str__(self) -> str:
        return (
            f"{self.polled} status check(s) resumed, {self.archived} archive(s) resumed, "
            f"{self.submitted} submission(s) resumed, {self.failed_uncertain} uncertain submission(s) failed"
        )


def reconcile(*, stale_after: float | None = None) -> ReconcileReport:
    """Resume every generation whose task was lost; safe to run any time, any number of times.

    - in flight at fal with no status check due for `stale_after` seconds: check now;
    - archiving with no live archiver lease: archive again;
    - pending and never claimed by a submit for `stale_after` seconds: submit;
    - pending with an interrupted submit: resolve the doubt (never resubmit).
    """
    stale_after = settings.RECONCILE_STALE_AFTER if stale_after is None else stale_after
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    report = ReconcileReport()

    overdue = Generation.objects.filter(status__in=Generation.IN_FLIGHT).filter(
        Q(next_poll_at__isnull=True) | Q(next_poll_at__lt=cutoff)
    )
    for pk in overdue.values_list("pk", flat=True):
        _schedule_poll(pk, 0)
        report.polled += 1

    unarchived = Generation.objects.filter(status=S.ARCHIVING, updated_at__lt=cutoff).filter(
        Q(archive_lease_until__isnull=True) | Q(archive_lease_until__lt=now)
    )
    for pk in unarchived.values_list("pk", flat=True):
        _schedule_archive(pk)
        report.archived += 1

    pending = Generation.objects.filter(status=S.PENDING, created_at__lt=cutoff)
    for pk in pending.filter(submit_started_at__isnull=True).values_list("pk", flat=True):
        from .tasks import submit_generation

        submit_generation.delay(pk)
        report.submitted += 1
    for generation in pending.filter(submit_started_at__lt=cutoff):
        _resolve_submit_in_doubt(generation)
        if Generation.objects.filter(pk=generation.pk, status=S.FAILED).exists():
            report.failed_uncertain += 1
    return report
