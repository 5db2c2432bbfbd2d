"""The simulated model: what one Seedance request does while IN_PROGRESS.

Checks the input, downloads the image, renders the clip (cached), publishes it on the
simulator's CDN, and stays IN_PROGRESS at least `progress_latency` seconds. Log lines
appear as each step happens, so `status?logs=true` shows progress.

Magic prompt substrings force an outcome for one request (handy in end-to-end tests):
  [simulate:422]             a model 422 on the prompt
  [simulate:content_policy]  a 422 of type content_policy_violation
  [simulate:runner_error]    runner_disconnected (status error, 503 on the result)
  [simulate:500]             runner_server_error (500 on the result, not retried by fal-client)
  [simulate:request_timeout] fal's start timeout expired: request_timeout, 504 on the result
  [simulate:sleep=SECONDS]   this request stays IN_PROGRESS that much longer
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
import time
from collections.abc import Callable

from .faults import FaultDice, Switches
from .inputs import ImageInputError, error_item, fetch_image
from .jobs import Job, Outcome
from .render import RenderAborted, Renderer
from .stats import Stats
from .storage import FileStore

logger = logging.getLogger(__name__)

MAGIC = re.compile(r"\[simulate:([a-z_0-9]+)(?:=([0-9.]+))?\]")


class Aborted(Exception):
    pass


class SeedanceRunner:
    def __init__(
        self,
        *,
        renderer: Renderer,
        files: FileStore,
        dice: FaultDice,
        switches: Callable[[], Switches],
        ssl_context: ssl.SSLContext,
        file_url: Callable[[str], str],
        stats: Stats,
        stopping: threading.Event,
    ):
        self._renderer = renderer
        self._files = files
        self._dice = dice
        self._switches = switches
        self._ssl_context = ssl_context
        self._file_url = file_url
        self._stats = stats
        self._stopping = stopping

    def _check(self, job: Job) -> None:
        if self._stopping.is_set():
            raise Aborted("simulator stopping")
        if job.cancel_requested and self._switches().honour_cancel:
            raise Aborted("cancelled")

    def _sleep_until(self, job: Job, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0:
            self._check(job)
            time.sleep(min(0.05, left))
        self._check(job)

    def __call__(self, job: Job) -> Outcome:
        try:
            return self._run(job)
        except Aborted as exc:
            job.log(f"Stopped: {exc}", "WARN")
            if str(exc) == "cancelled":
                return Outcome.cancelled()
            return Outcome.request_error(503, "Runner disconnected", "runner_disconnected")

    def _run(self, job: Job) -> Outcome:
        switches = self._switches()
        job.log("Starting Seedance 1.0 Pro Fast image-to-video")
        if job.params is None:
            job.log("Input validation failed", "ERROR")
            return Outcome.model_error(job.input_errors)
        params = job.params
        magic = {m.group(1): m.group(2) for m in MAGIC.finditer(params.prompt)}
        extra_sleep = float(magic.get("sleep") or 0)
        if "422" in magic or switches.force_422:
            job.log("Model rejected the input", "ERROR")
            return Outcome.model_error(
                [
                    error_item(
                        "prompt", "The model could not process this input (simulated).", "value_error", params.prompt
                    )
                ]
            )
        if "content_policy" in magic:
            job.log("Content checker flagged the input", "ERROR")
            return Outcome.model_error(
                [
                    error_item(
                        "prompt",
                        "The content could not be processed because it contained material flagged by a content "
                        "checker.",
                        "content_policy_violation",
                        params.prompt,
                        ctx={"categories": ["simulated"]},
                        url=True,
                    )
                ]
            )

        job.seed = params.seed if params.seed is not None else self._dice.seed_for_request()
        job.log(f"Downloading input image ({_describe_url(params.image_url)})")
        try:
            image = fetch_image(params.image_url, ssl_context=self._ssl_context)
        except ImageInputError as exc:
            job.log(f"Could not use the input image: {exc}", "ERROR")
            return Outcome.model_error([exc.item])
        self._check(job)
        if "runner_error" in magic:
            job.log("Lost connection to the runner", "ERROR")
            return Outcome.request_error(503, "Runner disconnected", "runner_disconnected")
        if "500" in magic:
            job.log("Runner raised an exception", "ERROR")
            return Outcome.request_error(500, "Runner encountered an internal server error", "runner_server_error")
        if "request_timeout" in magic:
            job.log("Request timed out before it started", "ERROR")
            return Outcome.start_timeout()

        seconds = params.num_frames / 24
        job.log(
            f"Generating {params.resolution} video, aspect ratio {params.aspect_ratio}, {seconds:g} s "
            f"({params.num_frames} frames), seed {job.seed}"
        )

        def progress(done: int, total: int) -> None:
            job.log(f"Rendering frames: {done}/{total}")
            try:
                self._check(job)
            except Aborted as exc:
                raise RenderAborted(str(exc)) from None

        try:
            render = self._renderer.render(
                image,
                resolution=params.resolution,
                aspect_ratio=params.aspect_ratio,
                num_frames=params.num_frames,
                camera_fixed=params.camera_fixed,
                progress=progress,
            )
        except RenderAborted as exc:
            raise Aborted(str(exc)) from None
        self._stats.count("render_cache_hits" if render.cached else "renders", job.id)
        job.log(
            f"Video ready: {render.width}x{render.height}"
            + (" (cached render)" if render.cached else f" in {render.seconds:.2f} s")
        )
        rel = self._files.put_file(render.path, file_name="video.mp4", content_type="video/mp4")
        size = render.path.stat().st_size
        job.log("Uploading video")
        assert job.started_at is not None
        self._sleep_until(job, job.started_at + switches.progress_latency + extra_sleep)
        job.log("Request completed")
        return Outcome.success(
            {
                "video": {
                    "url": self._file_url(rel),
                    "content_type": "video/mp4",
                    "file_name": "video.mp4",
                    "file_size": size,
                },
                "seed": job.seed,
            }
        )


def _describe_url(url: str) -> str:
    if url.startswith("data:"):
        return f"data URI, {len(url)} characters"
    return url.split("?", 1)[0][:200]  # a presigned URL's query string carries credentials
