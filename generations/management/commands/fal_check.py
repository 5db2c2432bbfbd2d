"""`manage.py fal_check`: after deploying, prove once that the whole way to fal and back works.

It drives one real request through the same gateway, image transport, webhook view,
archive checks and price table the pipeline uses, step by step, and says which step
failed and why. It is a check, not a generation: no Generation (or any other) row is
stored. The demo image is inspected in memory; only with S3 storage and no copy of it in
the library is a temporary copy stored (fal must fetch a presigned URL), deleted at the end.
"""

from __future__ import annotations

import io
import json
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage, default_storage
from django.core.management.base import BaseCommand
from django.urls import reverse

from generations import archive, fal_gateway, fal_webhooks, image_transport, media, pricing, seedance, services
from generations.fal_gateway import FalError
from generations.models import Generation, SourceImage

CHECK_IMAGE = Path(__file__).resolve().parents[2] / "demo" / "coffee.png"
CHECK_PROMPT = "Steam rises slowly from the cup; the camera barely moves."
# The cheapest request fal takes: 480p, 2 s (about two cents).
CHECK_INPUTS = {"resolution": "480p", "aspect_ratio": "16:9", "duration": 2}
# How long a verified webhook may take to arrive once the request is complete.
WEBHOOK_WAIT_SECONDS = 60
POLL_FIRST_INTERVAL, POLL_MAX_INTERVAL = 0.5, 5.0


@dataclass
class Step:
    name: str
    ok: bool | None  # None: skipped
    detail: str
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "skipped": self.ok is None, **self.extra}


class FalCheck:
    """The steps, run in order; a step that fails stops those that need it."""

    def __init__(self, *, spend_allowed: bool, timeout: float, on_step: Callable[[Step], None] = lambda step: None):
        self.spend_allowed = spend_allowed
        self.timeout = timeout
        self.on_step = on_step
        self.steps: list[Step] = []
        self.request_id: str | None = None
        self.webhook_url: str | None = None
        self.cost = None
        self.estimate = pricing.estimate(**CHECK_INPUTS)
        self._temporary_copy: str | None = None

    @property
    def ok(self) -> bool:
        return not any(step.ok is False for step in self.steps)

    def run(self) -> None:
        try:
            self._run()
        finally:
            if self._temporary_copy:
                default_storage.delete(self._temporary_copy)

    def _record(self, name: str, ok: bool | None, detail: str, **extra) -> bool:
        step = Step(name, ok, detail, extra)
        self.steps.append(step)
        self.on_step(step)
        return bool(ok)

    def _run(self) -> None:
        if not self.check_key():
            return
        image_url = self.check_image_transport()
        if image_url is None:
            return
        if not settings.FAL_SIMULATED and not self.spend_allowed:
            self._record(
                "submit",
                None,
                f"Not sent: one {_inputs_text()} video costs about ${self.estimate:.4f} at fal. "
                "Run `manage.py fal_check --yes-spend` to spend it and check the rest "
                "(status, webhook, result, video, size, cost).",
                would_spend_usd=float(self.estimate),
            )
            return
        if not self.submit(image_url):
            return
        if self.follow() is None:
            return
        self.check_webhook()
        output = self.check_result()
        if output is None:
            return
        facts = self.check_video(output.video_url)
        if facts is None:
            return
        self.check_size(facts)
        self.check_cost(facts)

    # (a) ---------------------------------------------------------------------------------

    def check_key(self) -> bool:
        """A status request for a made-up id: fal answers 404 to a key it accepts, 401/403 otherwise."""
        try:
            where = _where()
        except FalError as error:  # SimulatorNotRunning
            return self._record("key", False, error.message)
        try:
            fal_gateway.status(str(uuid.uuid4()), with_logs=False)
        except FalError as error:
            if error.status_code == 404:
                return self._record(
                    "key", True, f"{where} accepted the key: a made-up request id got 404 (not found), not 401/403."
                )
            if error.status_code in (401, 403):
                return self._record(
                    "key",
                    False,
                    f"{where} refused the key (HTTP {error.status_code}): check FAL_KEY "
                    "(fal's dashboard, Keys; a key looks like id:secret).",
                )
            return self._record("key", False, f"Could not tell whether {where} accepts the key: {error.message}")
        return self._record("key", True, f"{where} accepted the key (it answered for a made-up request id).")

    # (b) ---------------------------------------------------------------------------------

    def check_image_transport(self) -> str | None:
        """The URL fal will fetch the demo image from, made the way the pipeline makes it."""
        try:
            image, origin = self._check_image()
            mode = image_transport.choose_mode(image)
            url = image_transport.image_url_for_fal(image)
        except (OSError, ValidationError, ValueError) as exc:
            message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self._record("image_transport", False, f"The image URL for fal could not be made: {message}")
            return None
        except FalError as error:
            self._record("image_transport", False, f"The image could not be uploaded to fal: {error.message}")
            return None
        how = {
            "upload": f"uploaded to fal's storage, at {_short(url)}",
            "presigned": f"a presigned URL of the storage, {_short(url)} (fal fetches it when the request runs)",
            "data_uri": f"sent inline as a data URI ({len(url):,} characters)",
        }[mode]
        self._record(
            "image_transport",
            True,
            f"FAL_IMAGE_TRANSPORT={settings.FAL_IMAGE_TRANSPORT} picks {mode} for {origin}: {how}.",
            mode=mode,
            image=CHECK_IMAGE.name,
        )
        return url

    def _check_image(self) -> tuple[SourceImage, str]:
        content = CHECK_IMAGE.read_bytes()
        image = services.source_image_preview(file=io.BytesIO(content), filename=CHECK_IMAGE.name)
        if image.pk is not None:
            return image, f"the library's copy of {CHECK_IMAGE.name}"
        what = f"{CHECK_IMAGE.name} ({image.width}x{image.height} {image.format}, {len(content):,} bytes)"
        if image_transport.choose_mode(image) == "presigned":
            # fal must fetch it from the storage: a temporary copy, deleted when the check ends.
            self._temporary_copy = default_storage.save(f"fal-check/{uuid.uuid4().hex}.png", ContentFile(content))
            image.file.name = self._temporary_copy
            return image, f"{what}, a temporary copy in the storage"
        memory = InMemoryStorage()
        image.file.storage = memory
        image.file.name = memory.save(CHECK_IMAGE.name, ContentFile(content))
        return image, what

    # (c), (d) ----------------------------------------------------------------------------

    def submit(self, image_url: str) -> bool:
        webhook_url = None
        if settings.PUBLIC_BASE_URL:
            webhook_url = f"{settings.PUBLIC_BASE_URL}{reverse('fal-webhook')}?check={secrets.token_hex(8)}"
        self.webhook_url = webhook_url
        # Never saved: the model's own fal_arguments builds the body, as for a real generation.
        request = Generation(prompt_text=CHECK_PROMPT, seed=None, **CHECK_INPUTS)
        try:
            self.request_id = fal_gateway.submit(request.fal_arguments(image_url=image_url), webhook_url=webhook_url)
        except FalError as error:
            if error.uncertain:
                return self._record(
                    "submit", False, f"The submit's answer was lost; fal may have queued (and bill) it: {error.message}"
                )
            return self._record("submit", False, f"fal did not take the request: {error.message}")
        return self._record(
            "submit",
            True,
            f"fal queued one {_inputs_text()} request ({self.request_id}), estimated ${self.estimate:.4f}"
            + (f", with a webhook to {webhook_url}." if webhook_url else ", without a webhook (no PUBLIC_BASE_URL)."),
            request_id=self.request_id,
            estimate_usd=float(self.estimate),
            webhook_url=webhook_url,
        )

    def follow(self) -> bool | None:
        """Polls until COMPLETED; True when it completed well, False when fal reports a failure, None: gave up."""
        started = time.monotonic()
        interval = POLL_FIRST_INTERVAL
        seen: list[str] = []
        while True:
            try:
                state = fal_gateway.status(self.request_id, with_logs=False)
            except FalError as error:
                if error.permanent:
                    self._record("status", False, f"fal's status answer was an error: {error.message}")
                    return None
                state = None  # a busy or unreachable moment: ask again
            if state is not None:
                if not seen or seen[-1] != state.state:
                    seen.append(state.state)
                if state.state == "COMPLETED":
                    break
            if time.monotonic() - started > self.timeout:
                cancelled = self._cancel_quietly()
                self._record(
                    "status",
                    False,
                    f"Still {seen[-1] if seen else 'unanswered'} after {self.timeout:.0f} s (--timeout); "
                    + ("the request was cancelled." if cancelled else f"request {self.request_id} may still run."),
                    states=seen,
                )
                return None
            time.sleep(interval)
            interval = min(POLL_MAX_INTERVAL, interval * 1.5)
        waited = time.monotonic() - started
        path = " -> ".join(seen)
        if state.error:
            self._record(
                "status",
                False,
                f"COMPLETED after {waited:.1f} s ({path}), but fal reports the request failed: "
                f"{state.error} ({state.error_type or 'no error type'}).",
                states=seen,
                seconds=round(waited, 1),
            )
            return False
        self._record("status", True, f"COMPLETED after {waited:.1f} s ({path}).", states=seen, seconds=round(waited, 1))
        return True

    def _cancel_quietly(self) -> bool:
        try:
            return fal_gateway.cancel(self.request_id)
        except FalError:
            return False

    # (e) ---------------------------------------------------------------------------------

    def check_webhook(self) -> None:
        if not self.webhook_url:
            self._record(
                "webhook",
                None,
                "PUBLIC_BASE_URL is not set, so no webhook was asked for: generations are followed by polling "
                "alone. Set it to this site's public address for fal to report by webhook.",
            )
            return
        deadline = time.monotonic() + WEBHOOK_WAIT_SECONDS
        while (seen := fal_webhooks.verified_webhook(self.request_id)) is None and time.monotonic() < deadline:
            time.sleep(0.25)
        endpoint = _short(self.webhook_url)
        if seen is None:
            self._record(
                "webhook",
                False,
                f"No verified webhook for {self.request_id} arrived at {endpoint} within {WEBHOOK_WAIT_SECONDS} s "
                "of completion. Check that fal can reach PUBLIC_BASE_URL from the internet, the web server's log "
                "for “Rejected a fal webhook” (a signature or clock problem), and that the web processes and "
                "this command share the cache (CACHE_URL), where a verified webhook is noted.",
                url=endpoint,
            )
            return
        self._record(
            "webhook",
            True,
            f"fal's webhook reached {endpoint} and its signature verified "
            f"(fal account {seen['user_id']}; the app: “{seen['outcome']}”).",
            url=endpoint,
            user_id=seen["user_id"],
            outcome=seen["outcome"],
        )

    # (f), (g), (h), (i) ------------------------------------------------------------------

    def check_result(self) -> fal_gateway.FalOutput | None:
        try:
            output = fal_gateway.result(self.request_id)
        except FalError as error:
            self._record("result", False, f"fal's result is an error: {error.message}")
            return None
        self._record(
            "result",
            True,
            f"fal's result has a video URL ({_short(output.video_url)}) and seed {output.seed}.",
            video_url=output.video_url,
            seed=output.seed,
        )
        return output

    def check_video(self, url: str) -> media.VideoFacts | None:
        """Downloads and checks the video exactly as the archive does, into memory, not the storage."""
        fal_gateway.configure_process()  # the simulator's media URLs need its CA
        try:
            archived = archive.archive_video(
                url=url,
                video_key="fal-check/video.mp4",
                poster_key="fal-check/poster.jpg",
                expected_duration=CHECK_INPUTS["duration"],
                storage=InMemoryStorage(),
                first_attempt=True,
                url_allowed=fal_gateway.media_url_allowed,  # redirects too, as the pipeline's archive
            )
        except archive.ArchiveError as error:
            self._record("video", False, f"The video would not be archived ({error.code}): {error.message}")
            return None
        facts = archived.facts
        self._record(
            "video",
            True,
            f"Downloaded {archived.size_bytes:,} bytes: a whole {facts.codec} MP4, {facts.width}x{facts.height}, "
            f"{facts.duration:.2f} s at {facts.fps:g} fps (the archive's checks pass).",
            bytes=archived.size_bytes,
            sha256=archived.sha256,
            width=facts.width,
            height=facts.height,
            duration=facts.duration,
            fps=facts.fps,
            codec=facts.codec,
        )
        return facts

    def check_size(self, facts: media.VideoFacts) -> None:
        expected = seedance.output_size(CHECK_INPUTS["resolution"], CHECK_INPUTS["aspect_ratio"])
        measured = (facts.width, facts.height)
        table = f"the published size for {CHECK_INPUTS['resolution']} {CHECK_INPUTS['aspect_ratio']}"
        if measured == expected:
            self._record("size", True, f"{facts.width}x{facts.height} is {table}.", expected=list(expected))
            return
        self._record(
            "size",
            False,
            f"fal delivered {facts.width}x{facts.height}, but {table} is {expected[0]}x{expected[1]}: "
            "estimates use that table (generations/seedance.py OUTPUT_SIZES); update it.",
            expected=list(expected),
        )

    def check_cost(self, facts: media.VideoFacts) -> None:
        self.cost = pricing.actual(width=facts.width, height=facts.height, seconds=facts.duration)
        tokens = pricing.video_tokens(facts.width, facts.height, facts.duration)
        spent = "nothing was spent: simulated" if settings.FAL_SIMULATED else "charged by fal"
        self._record(
            "cost",
            True,
            f"${self.cost:.4f} settled for this video ({tokens:,} video tokens; estimated ${self.estimate:.4f}; "
            f"{spent}).",
            cost_usd=float(self.cost),
            estimate_usd=float(self.estimate),
        )


def _where() -> str:
    conn = fal_gateway.connection()  # raises SimulatorNotRunning (a FalError) when it is not running
    if conn.simulated:
        return f"The local fal simulator ({conn.queue_host})"
    return f"fal ({conn.queue_host or 'queue.fal.run'})"


def _inputs_text() -> str:
    return f"{CHECK_INPUTS['resolution']} {CHECK_INPUTS['aspect_ratio']} {CHECK_INPUTS['duration']} s"


def _short(url: str) -> str:
    """A URL without its query (a presigned URL's signature) for the report."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class Command(BaseCommand):
    help = (
        "After deploying, check the way to fal and back once: the key, the image transport, one cheapest "
        f"request ({_inputs_text()}, about two cents), its status, webhook (with PUBLIC_BASE_URL), result, "
        "the video's download, size and price. With a real FAL_KEY it spends money only with --yes-spend; "
        "without FAL_KEY it runs against the local fal simulator. It is a check, not a generation: it stores "
        "no Generation row (nor any other). Exits 1 if a step failed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--yes-spend",
            action="store_true",
            help="with a real FAL_KEY: submit the one paid request (about $0.02); without it only the key "
            "and the image transport are checked",
        )
        parser.add_argument(
            "--timeout", type=float, default=600, help="seconds to wait for the request to complete (default 600)"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object as the result")

    def handle(self, *args, **options):
        as_json = options["json"]
        if not as_json:
            against = "the local fal simulator (nothing is spent)" if settings.FAL_SIMULATED else "fal.ai (FAL_KEY)"
            self.stdout.write(f"Checking the way to {against}; no generation is stored.")
        check = FalCheck(
            spend_allowed=options["yes_spend"],
            timeout=options["timeout"],
            on_step=(lambda step: None) if as_json else self._print_step,
        )
        check.run()
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": check.ok,
                        "simulated": settings.FAL_SIMULATED,
                        "request_id": check.request_id,
                        "estimate_usd": float(check.estimate),
                        "cost_usd": None if check.cost is None else float(check.cost),
                        "steps": [step.as_json() for step in check.steps],
                    }
                )
            )
        else:
            failed = [step.name for step in check.steps if step.ok is False]
            self.stdout.write(f"Failed: {', '.join(failed)}." if failed else "No step failed.")
        if not check.ok:
            sys.exit(1)

    def _print_step(self, step: Step) -> None:
        mark = {True: "ok", False: "FAILED", None: "skipped"}[step.ok]
        self.stdout.write(f"{mark:>7}  {step.name}: {step.detail}")
