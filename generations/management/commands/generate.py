"""Create a generation from the command line, through the same validation and tasks as the admin."""

from __future__ import annotations

import json
import os
import sys
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generations import actions, seedance, services
from generations.budget import BudgetExceeded
from generations.models import Generation
from generations.validators import validate_prompt_text


def generation_summary(generation: Generation) -> dict:
    """The --json answer: what a script needs to find and check the video."""
    return {
        "id": str(generation.code),
        "status": generation.status,
        "seed": generation.seed_used,
        "requested_seed": generation.seed,
        "fal_request_id": generation.fal_request_id or None,
        "video_key": generation.video.name or None,
        "poster_key": generation.poster.name or None,
        "metadata": {
            "duration": generation.video_duration,
            "width": generation.video_width,
            "height": generation.video_height,
            "fps": generation.video_fps,
            "codec": generation.video_codec or None,
            "bytes": generation.video_bytes,
            "sha256": generation.video_sha256 or None,
        },
        "inputs": {
            "prompt": generation.prompt_text,
            "aspect_ratio": generation.aspect_ratio,
            "resolution": generation.resolution,
            "duration": generation.duration,
            "camera_fixed": generation.camera_fixed,
            "enable_safety_checker": generation.enable_safety_checker,
        },
        "error": {"code": generation.error_code, "message": generation.error_message}
        if generation.status in (Generation.Status.FAILED, Generation.Status.CANCELLED)
        else None,
    }


# GenerationParams' fields, as this command's options.
OPTION_OF = {
    "aspect_ratio": "--aspect-ratio",
    "resolution": "--resolution",
    "duration": "--duration",
    "camera_fixed": "--camera-fixed",
    "seed": "--seed",
    "enable_safety_checker": "--no-safety-checker",
}


class Command(BaseCommand):
    help = "Generate a video from an image and a prompt with Seedance 1.0 Pro Fast (fal)."

    def add_arguments(self, parser):
        parser.add_argument("--image", required=True, metavar="PATH", help="a JPEG, PNG or WebP file")
        parser.add_argument("--prompt", required=True, metavar="TEXT")
        # No argparse `choices`: GenerationParams.from_raw checks every input, with the same
        # messages as the admin's form (the rules live in generations.validators).
        parser.add_argument(
            "--aspect-ratio",
            default=seedance.DEFAULT_ASPECT_RATIO,
            metavar="RATIO",
            help=f"{', '.join(seedance.AspectRatio.values)} (default {seedance.DEFAULT_ASPECT_RATIO})",
        )
        parser.add_argument(
            "--resolution",
            default=seedance.DEFAULT_RESOLUTION,
            metavar="RES",
            help=f"{', '.join(seedance.Resolution.values)} (default {seedance.DEFAULT_RESOLUTION})",
        )
        parser.add_argument(
            "--duration",
            default=str(seedance.DEFAULT_DURATION),
            metavar="SECONDS",
            help=f"{seedance.MIN_DURATION} to {seedance.MAX_DURATION} (default {seedance.DEFAULT_DURATION})",
        )
        parser.add_argument("--camera-fixed", action="store_true", help="keep the camera still")
        parser.add_argument(
            "--seed", default=None, help=f"a fixed seed, 0 to {seedance.MAX_SEED} (default: random, i.e. -1)"
        )
        parser.add_argument("--no-safety-checker", action="store_true", help="disable fal's safety checker")
        parser.add_argument(
            "--generate-anyway",
            action="store_true",
            help="pay again even if an identical video (same image, prompt, settings, seed) exists",
        )
        parser.add_argument("--wait", action="store_true", help="follow the generation to the end")
        parser.add_argument("--json", action="store_true", help="print one JSON object as the result")
        parser.add_argument("--timeout", type=float, default=3600, help="with --wait: give up waiting after SECONDS")

    def handle(self, *args, **options):
        generation = self._create(options)
        if options["wait"]:
            generation = self._follow(generation, timeout=options["timeout"], live=not options["json"])
        self._report(generation, as_json=options["json"])
        if generation.status in (Generation.Status.FAILED, Generation.Status.CANCELLED):
            sys.exit(1)

    def _create(self, options) -> Generation:
        # Every input is checked, and every problem reported, before anything is stored.
        problems = []
        try:
            params = services.GenerationParams.from_raw(
                aspect_ratio=options["aspect_ratio"],
                resolution=options["resolution"],
                duration=options["duration"],
                camera_fixed=options["camera_fixed"],
                seed=options["seed"],
                enable_safety_checker=not options["no_safety_checker"],
            )
        except ValidationError as exc:
            problems.append(_describe(exc))
        try:
            validate_prompt_text(options["prompt"])
        except ValidationError as exc:
            problems.append(f"--prompt: {' '.join(exc.messages)}")
        if problems:
            raise CommandError(" ".join(problems))
        path = options["image"]
        try:
            with open(path, "rb") as fh:
                image, _ = services.source_image_ingest(file=fh, filename=os.path.basename(path))
        except OSError as exc:
            raise CommandError(f"Cannot read the image {path}: {exc.strerror}.") from None
        except ValidationError as exc:
            raise CommandError(f"--image {path}: refused — {' '.join(exc.messages)}") from None
        try:
            the_plan = actions.plan(images=[image], prompt_texts=[options["prompt"]], params=params)
            [generation] = actions.request(
                the_plan, user=None, allow_duplicates=options["generate_anyway"], as_batch=False
            )
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None
        except actions.DuplicateRequest as exc:
            existing = exc.plan.duplicates[0].identical
            raise CommandError(
                f"{exc} Existing generation: {existing.code} ({existing.video.name}). "
                "Add --generate-anyway to pay for it again."
            ) from None
        except BudgetExceeded as exc:
            raise CommandError(f"Refused: {exc}") from None
        return generation

    def _follow(self, generation: Generation, *, timeout: float, live: bool) -> Generation:
        started = time.monotonic()
        try:
            while not generation.is_finished:
                if time.monotonic() - started > timeout:
                    raise CommandError(
                        f"Still {generation.status} after {timeout:.0f} s; it goes on in the background "
                        f"(generation {generation.code})."
                    )
                if live:
                    self.stderr.write(f"\r{_progress_line(generation, time.monotonic() - started)}\033[K", ending="")
                time.sleep(1)
                generation.refresh_from_db()
        except KeyboardInterrupt:
            self.stderr.write(f"\nStopped waiting; generation {generation.code} goes on in the background.")
            sys.exit(130)
        if live:
            self.stderr.write(f"\r{_progress_line(generation, time.monotonic() - started)}\033[K")
        return generation

    def _report(self, generation: Generation, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(generation_summary(generation)))
            return
        self.stdout.write(f"Generation {generation.code}: {generation.get_status_display()}")
        if generation.status == Generation.Status.COMPLETED:
            self.stdout.write(
                f"  video: {generation.video.name} ({generation.video_width}x{generation.video_height}, "
                f"{generation.video_duration:.2f} s, {generation.video_codec}), seed {generation.seed_used}"
            )
        elif generation.error_message:
            self.stdout.write(f"  {generation.error_code}: {generation.error_message}")


def _progress_line(generation: Generation, elapsed: float) -> str:
    line = f"[{elapsed:5.0f} s] {generation.get_status_display()}"
    if generation.status == Generation.Status.IN_QUEUE and generation.queue_position is not None:
        line += f", position {generation.queue_position} in fal's queue"
    if generation.status not in Generation.ENDS and generation.error_message:
        line += f" ({generation.error_message[:80]})"
    return line


def _describe(error: ValidationError) -> str:
    """The errors, each after the option it is about (--duration: …)."""
    if hasattr(error, "error_dict"):
        return " ".join(
            f"{OPTION_OF.get(field, field)}: {' '.join(msgs)}" for field, msgs in error.message_dict.items()
        )
    return " ".join(error.messages)
