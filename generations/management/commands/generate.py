"""Create a generation from the command line, through the same validation and tasks as the admin.

`--dry-run` goes through the same validation and the same plan (price, duplicates), and
checks the budget without reserving it, but stores nothing and sends nothing: the image
is inspected in memory (or found in the library by its SHA-256).
"""

from __future__ import annotations

import json
import os
import sys
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generations import actions, budget, seedance, services
from generations.budget import BudgetExceeded, usd
from generations.models import Generation, SourceImage
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
        # What counts against the budgets: the reserved estimate until it ends, then the settled price.
        "cost_usd": float(generation.cost),
    }


def dry_run_summary(the_plan: actions.Plan, *, allow_duplicates: bool, user=None) -> dict:
    """The --dry-run --json answer: what `generate` would create, cost and be told, with nothing stored."""
    [item] = the_plan.items  # the command plans one image × one prompt
    image, params = item.source_image, item.params
    image_size = (image.width, image.height)
    aspect_ratio = (
        seedance.nearest_aspect_ratio(*image_size)
        if params.aspect_ratio == seedance.AspectRatio.AUTO
        else params.aspect_ratio
    )
    width, height = seedance.output_size(params.resolution, params.aspect_ratio, image_size)
    status, over_budget = budget.would_fit(user=user, amount=the_plan.total_cost)
    duplicates = [
        {"id": str(d.identical.code), "video_key": d.identical.video.name or None} for d in the_plan.duplicates
    ]
    refusal = _duplicate_refusal(the_plan) if duplicates and not allow_duplicates else over_budget
    return {
        "dry_run": True,
        "would_run": refusal is None,
        "refusal": refusal,
        "count": the_plan.count,
        "estimate_usd": float(the_plan.total_cost),
        "price_each_usd": float(item.cost),
        "inputs": {"prompt": item.prompt_text, **params.as_model_fields()},
        "output": {
            "resolution": params.resolution,
            "aspect_ratio": aspect_ratio,
            "width": width,
            "height": height,
            "duration": params.duration,
            "fps": seedance.OUTPUT_FPS,
        },
        "image": {
            "in_library": image.pk is not None,
            "id": str(image.code) if image.pk is not None else None,
            "sha256": image.sha256,
            "width": image.width,
            "height": image.height,
            "format": image.format,
            "bytes": image.size_bytes,
        },
        "duplicates": duplicates,
        "budget": {
            "fits": over_budget is None,
            "reason": over_budget,
            "monthly_cap_usd": _usd(status.monthly_cap),
            "left_this_month_usd": _usd(status.left_this_month),
            "daily_user_cap_usd": _usd(status.daily_user_cap),
            "left_today_usd": _usd(status.left_today_for_user),
        },
    }


def _usd(amount) -> float | None:
    return None if amount is None else float(amount)


def _duplicate_refusal(the_plan: actions.Plan) -> str:
    existing = the_plan.duplicates[0].identical
    return (
        f"{actions.DuplicateRequest(the_plan)} Existing generation: {existing.code} ({existing.video.name}). "
        "Add --generate-anyway to pay for it again."
    )


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
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check, plan and price it, and say whether the budget allows it; store and send nothing "
            "(exits 1 when the real run would be refused)",
        )

    def handle(self, *args, **options):
        the_plan = self._plan(options)
        if options["dry_run"]:
            self._report_dry_run(the_plan, options)
            return
        generation = self._request(the_plan, options)
        if options["wait"]:
            generation = self._follow(generation, timeout=options["timeout"], live=not options["json"])
        self._report(generation, as_json=options["json"])
        if generation.status in (Generation.Status.FAILED, Generation.Status.CANCELLED):
            sys.exit(1)

    def _plan(self, options) -> actions.Plan:
        """Check every input and plan the generation; with --dry-run, nothing is stored."""
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
        image = self._image(options["image"], store=not options["dry_run"])
        try:
            return actions.plan(images=[image], prompt_texts=[options["prompt"]], params=params)
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None

    def _image(self, path: str, *, store: bool) -> SourceImage:
        """The library's image for the file at `path`: stored now, or (store=False) only looked at."""
        try:
            with open(path, "rb") as fh:
                if store:
                    image, _ = services.source_image_ingest(file=fh, filename=os.path.basename(path))
                else:
                    image = services.source_image_preview(file=fh, filename=os.path.basename(path))
        except OSError as exc:
            raise CommandError(f"Cannot read the image {path}: {exc.strerror}.") from None
        except ValidationError as exc:
            raise CommandError(f"--image {path}: refused — {' '.join(exc.messages)}") from None
        return image

    def _request(self, the_plan: actions.Plan, options) -> Generation:
        try:
            [generation] = actions.request(
                the_plan, user=None, allow_duplicates=options["generate_anyway"], as_batch=False
            )
        except actions.DuplicateRequest:
            raise CommandError(_duplicate_refusal(the_plan)) from None
        except BudgetExceeded as exc:
            raise CommandError(f"Refused: {exc}") from None
        return generation

    def _report_dry_run(self, the_plan: actions.Plan, options) -> None:
        summary = dry_run_summary(the_plan, allow_duplicates=options["generate_anyway"])
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(_dry_run_text(summary, image_path=options["image"]))
        if not summary["would_run"]:
            self.stderr.write(f"Would be refused: {summary['refusal']}")
            sys.exit(1)

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


def _dry_run_text(summary: dict, *, image_path: str) -> str:
    out, image, budget_ = summary["output"], summary["image"], summary["budget"]
    n = summary["count"]
    lines = [
        "Dry run: nothing stored, nothing queued, nothing sent to fal.",
        f"Would create {n} generation{'s' if n != 1 else ''}: {out['resolution']}, {out['aspect_ratio']}, "
        f"{out['duration']} s -> a {out['width']}x{out['height']} video at {out['fps']} fps.",
        f"Estimated price: ${summary['price_each_usd']:.4f} each, ${summary['estimate_usd']:.4f} in all.",
        f"Image: {image_path}, {image['width']}x{image['height']} {image['format']} "
        + (f"(already in the library as {image['id']})." if image["in_library"] else "(new: it would be stored)."),
    ]
    if budget_["fits"]:
        left = [
            f"{usd(budget_['left_this_month_usd'])} of the monthly cap left"
            if budget_["monthly_cap_usd"] is not None
            else "no monthly cap",
            f"{usd(budget_['left_today_usd'])} of the daily cap left"
            if budget_["daily_user_cap_usd"] is not None
            else "no daily cap",
        ]
        lines.append(f"Budget: fits ({', '.join(left)}).")
    else:
        lines.append(f"Budget: would not fit. {budget_['reason']}")
    for duplicate in summary["duplicates"]:
        lines.append(f"Identical video already made: generation {duplicate['id']} ({duplicate['video_key']}).")
    lines.append("Would run: yes." if summary["would_run"] else "Would run: no (see below).")
    return "\n".join(lines)


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
