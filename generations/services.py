"""Writes to the library: every entry point (admin, gallery, commands) calls these.

Each function validates fully before it writes, so bad input leaves no row and
no file behind. Status changes are not here: see generations.lifecycle.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import IO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from . import ledger, pricing, seedance, validators
from .images import InspectedImage, inspect_image
from .models import Batch, Generation, Prompt, SourceImage
from .validators import clean_label, prompt_fingerprint, validate_prompt_text

logger = logging.getLogger(__name__)


def source_image_ingest(
    *,
    file: IO[bytes],
    filename: str = "",
    title: str = "",
    uploaded_by: AbstractBaseUser | None = None,
) -> tuple[SourceImage, bool]:
    """Validate and keep an uploaded image; returns (image, created).

    The same bytes uploaded twice return the existing image and store no second copy.
    Raises ValidationError (nothing written) when the file is not an acceptable image.
    """
    filename = clean_label(filename)
    max_bytes = settings.SOURCE_IMAGE_MAX_BYTES
    content = file.read(max_bytes + 1)  # one byte more tells "too large" without reading it all
    if content and len(content) <= max_bytes:
        # Hashed before anything is decoded: bytes the library already has are never decoded again.
        existing = SourceImage.objects.filter(sha256=hashlib.sha256(content).hexdigest()).first()
        if existing and existing.seedance_problem:
            # Kept in the library from before the limits, but refused as an upload, like any such file.
            raise ValidationError(existing.seedance_problem, code="seedance_limits")
        if existing:
            return existing, False
    inspected = inspect_image(content, max_bytes=max_bytes, filename=filename, size=_size_of(file))
    existing = SourceImage.objects.filter(sha256=inspected.sha256).first()  # an upright re-encode we have
    if existing:
        return existing, False

    image = _unsaved_image(inspected, filename=filename, title=title, uploaded_by=uploaded_by)
    # The file goes to storage first (outside any transaction: it may be S3),
    # then the row; if the row loses a race to an identical upload, the file goes.
    image.file.save("upload", ContentFile(inspected.content), save=False)
    stored_name = image.file.name
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:
        winner = SourceImage.objects.filter(sha256=inspected.sha256).first()
        if winner is None:
            image.file.storage.delete(stored_name)
            raise
        if winner.file.name != stored_name:
            image.file.storage.delete(stored_name)
        return winner, False
    except BaseException:
        image.file.storage.delete(stored_name)  # no row, so no file either
        raise
    logger.info("Stored source image %s (%sx%s %s)", image.code, image.width, image.height, image.format)
    return image, True


def source_image_preview(*, file: IO[bytes], filename: str = "") -> SourceImage:
    """What source_image_ingest would return, without storing anything (for dry runs).

    The library's image with the same bytes, or an unsaved SourceImage (no pk, no file)
    describing them. Raises ValidationError exactly as source_image_ingest does.
    """
    filename = clean_label(filename)
    inspected = _inspect_upload(file, filename)
    existing = SourceImage.objects.filter(sha256=inspected.sha256).first()
    return existing or _unsaved_image(inspected, filename=filename)


def _inspect_upload(file: IO[bytes], filename: str) -> InspectedImage:
    max_bytes = settings.SOURCE_IMAGE_MAX_BYTES
    content = file.read(max_bytes + 1)  # one byte more tells "too large" without reading it all
    return inspect_image(content, max_bytes=max_bytes, filename=filename, size=_size_of(file))


def _unsaved_image(
    inspected: InspectedImage, *, filename: str, title: str = "", uploaded_by: AbstractBaseUser | None = None
) -> SourceImage:
    return SourceImage(
        sha256=inspected.sha256,
        width=inspected.width,
        height=inspected.height,
        format=inspected.format,
        size_bytes=len(inspected.content),
        original_filename=filename[-255:],
        title=clean_label(title)[:200],
        uploaded_by=uploaded_by,
    )


def _size_of(file: IO[bytes]) -> int | None:
    """The whole file's size when it can be known without reading it (for "the file is 57 MB")."""
    size = getattr(file, "size", None)  # Django's uploaded files
    if isinstance(size, int):
        return size
    try:
        return os.fstat(file.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def prompt_get_or_create(
    *, text: str, title: str = "", created_by: AbstractBaseUser | None = None
) -> tuple[Prompt, bool]:
    """Return the library prompt for `text`, creating it if this text is new.

    Texts that differ only in surrounding or repeated whitespace are the same prompt;
    the text is stored as first entered. Raises ValidationError for an unusable text.
    """
    validate_prompt_text(text)
    fingerprint = prompt_fingerprint(text)
    existing = Prompt.objects.filter(text_hash=fingerprint).first()
    if existing:
        return existing, False
    prompt = Prompt(text=text, text_hash=fingerprint, title=title.strip()[:200], created_by=created_by)
    prompt.full_clean()
    try:
        with transaction.atomic():
            prompt.save()
    except IntegrityError:
        return Prompt.objects.get(text_hash=fingerprint), False
    return prompt, True


@dataclass(frozen=True)
class GenerationParams:
    """Every model input but the image and the prompt, validated."""

    aspect_ratio: str = seedance.DEFAULT_ASPECT_RATIO
    resolution: str = seedance.DEFAULT_RESOLUTION
    duration: int = seedance.DEFAULT_DURATION
    camera_fixed: bool = seedance.DEFAULT_CAMERA_FIXED
    seed: int | None = None
    enable_safety_checker: bool = seedance.DEFAULT_ENABLE_SAFETY_CHECKER

    def as_model_fields(self) -> dict:
        """The Generation fields these params fill (the names are the model's)."""
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, generation: Generation) -> GenerationParams:
        return cls(**{f.name: getattr(generation, f.name) for f in dataclasses.fields(cls)})

    @classmethod
    def from_raw(
        cls,
        *,
        aspect_ratio: str = seedance.DEFAULT_ASPECT_RATIO,
        resolution: str = seedance.DEFAULT_RESOLUTION,
        duration: int | str = seedance.DEFAULT_DURATION,
        camera_fixed: bool = seedance.DEFAULT_CAMERA_FIXED,
        seed: int | str | None = None,
        enable_safety_checker: bool = seedance.DEFAULT_ENABLE_SAFETY_CHECKER,
    ) -> GenerationParams:
        """Check raw values (from a form, a command line, JSON); collects every error at once.

        The rules are validators' (one per input), shared with the admin form and the command.
        """
        checks = {
            "aspect_ratio": (validators.parse_aspect_ratio, aspect_ratio),
            "resolution": (validators.parse_resolution, resolution),
            "duration": (validators.parse_duration, duration),
            "camera_fixed": (functools.partial(validators.parse_bool, what="Camera fixed"), camera_fixed),
            "seed": (validators.normalize_seed, seed),
            "enable_safety_checker": (
                functools.partial(validators.parse_bool, what="The safety checker"),
                enable_safety_checker,
            ),
        }
        values: dict = {}
        errors: dict[str, list[str]] = {}
        for name, (check, raw) in checks.items():
            try:
                values[name] = check(raw)
            except ValidationError as exc:
                errors[name] = exc.messages
        if errors:
            raise ValidationError(errors)
        return cls(**values)


def source_image_check_usable(image: SourceImage) -> None:
    """Raises ValidationError (saying which limit) when Seedance would refuse the image.

    Every generation is created through generation_create, which asks this first, so
    an image already in the library that breaks Seedance's limits never reaches fal.
    """
    problem = image.seedance_problem
    if problem:
        raise ValidationError(f"Videos cannot be generated from “{image}”: {problem}", code="unusable_image")


def batch_create(*, owner: AbstractBaseUser | None, note: str = "") -> Batch:
    return Batch.objects.create(owner=owner, note=note)


def generation_create(
    *,
    source_image: SourceImage,
    prompt: Prompt,
    params: GenerationParams,
    requested_by: AbstractBaseUser | None = None,
    batch: Batch | None = None,
    submit: bool = True,
    estimated_cost: Decimal | None = None,
    retry_of: Generation | None = None,
) -> Generation:
    """Record a new pending generation and, once the transaction commits, queue its submission.

    Its price is reserved (`cost`) until it ends. Budgets are checked by actions.request,
    which every user-facing entry point goes through. Raises ValidationError, storing
    nothing, for an image Seedance would refuse.
    """
    source_image_check_usable(source_image)
    if estimated_cost is None:
        estimated_cost = pricing.estimate_for(params, source_image)
    generation = Generation(
        source_image=source_image,
        prompt=prompt,
        prompt_text=prompt.text,
        **params.as_model_fields(),
        requested_by=requested_by,
        batch=batch,
        estimated_cost=estimated_cost,
        cost=estimated_cost,
        retry_of=retry_of,
    )
    # The inputs were checked by GenerationParams and the related rows exist (we hold them);
    # the table's CHECK and UNIQUE constraints back that at the INSERT. Django's own re-check
    # of every constraint and foreign key would cost a dozen queries per generation.
    generation.full_clean(
        exclude=["source_image", "prompt", "requested_by", "batch", "retry_of"],
        validate_unique=False,
        validate_constraints=False,
    )
    with transaction.atomic():
        generation.save()
        ledger.reserve(generation)
    if submit:
        # Only after commit: the worker must find the row.
        pk = generation.pk
        transaction.on_commit(lambda: queue_submit(pk))
    return generation


def queue_submit(generation_id: int) -> None:
    """Queue a pending generation for submission to fal.

    With the broker unreachable the generation is kept as pending, not lost and not an
    error page for whoever asked: the reconcile sweep submits it once the broker is back
    (after RECONCILE_STALE_AFTER seconds)."""
    from kombu.exceptions import OperationalError

    from .tasks import submit_generation

    try:
        submit_generation.delay(generation_id)
    except OperationalError as exc:
        logger.warning(
            "Could not queue generation %s for submission (broker unreachable: %s); "
            "the reconcile sweep will submit it when the broker is back.",
            generation_id,
            exc,
        )
