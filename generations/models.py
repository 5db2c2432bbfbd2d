"""The video library: source images, prompts, generations and batches.

Public URLs use each object's `code` (a UUID), never the integer primary key.
Generation.status only changes through `generations.lifecycle.transition`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length, Lower
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from . import failures, images, seedance
from .validators import validate_prompt_text


def source_image_upload_to(instance: SourceImage, filename: str) -> str:
    # Content-addressed, never the uploaded name: the name is user input.
    extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(instance.format, "bin")
    return f"source-images/{instance.sha256[:2]}/{instance.sha256}.{extension}"


def generation_video_upload_to(instance: Generation, filename: str) -> str:
    created = instance.created_at or timezone.now()
    return f"generations/{created:%Y/%m}/{instance.code}.mp4"


def generation_poster_upload_to(instance: Generation, filename: str) -> str:
    created = instance.created_at or timezone.now()
    return f"generations/{created:%Y/%m}/{instance.code}.jpg"


class SourceImage(models.Model):
    """An uploaded still that videos are generated from; one row per distinct content."""

    class Format(models.TextChoices):
        JPEG = "JPEG", "JPEG"
        PNG = "PNG", "PNG"
        WEBP = "WEBP", "WebP"

    code = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    file = models.FileField(upload_to=source_image_upload_to, max_length=255)
    sha256 = models.CharField("SHA-256", max_length=64, unique=True, editable=False)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=8, choices=Format.choices)
    size_bytes = models.PositiveBigIntegerField()
    original_filename = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="sourceimage_sha256_hex"),
            models.CheckConstraint(condition=Q(width__gt=0, height__gt=0), name="sourceimage_dimensions_positive"),
        ]

    def __str__(self) -> str:
        return self.title or self.original_filename or f"Image {self.sha256[:12]}"

    @property
    def seedance_problem(self) -> str:
        """Why Seedance would refuse this image, from its stored size, format and bytes; "" when usable.

        Uploads are checked against these limits, but an image stored before they were
        stays in the library (with its videos) and cannot be generated from.
        """
        return images.seedance_problem(
            width=self.width, height=self.height, fmt=self.format, size_bytes=self.size_bytes
        )


class Prompt(models.Model):
    """A reusable prompt text. The same text (after normalising whitespace) is one Prompt."""

    code = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    text = models.CharField(max_length=seedance.PROMPT_MAX_LENGTH, validators=[validate_prompt_text])
    # SHA-256 of validators.normalize_prompt_text(text): the dedupe key.
    text_hash = models.CharField(max_length=64, unique=True, editable=False)
    title = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Backstop for the form validation: never a blank prompt.
            models.CheckConstraint(condition=Q(text__regex=r"\S"), name="prompt_text_not_blank"),
        ]

    def __str__(self) -> str:
        label = self.title or self.text
        return label if len(label) <= 80 else label[:79] + "…"


class Batch(models.Model):
    """One admin action that created several generations (image × prompts × seeds)."""

    code = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"Batch {str(self.code)[:8]} ({self.created_at:%Y-%m-%d %H:%M})"


class GenerationStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # created, not yet sent to fal
    SUBMITTED = "submitted", "Submitted"  # fal accepted it; request id stored
    IN_QUEUE = "in_queue", "In queue"  # waiting for a fal runner
    IN_PROGRESS = "in_progress", "In progress"  # a fal runner is generating it
    ARCHIVING = "archiving", "Archiving"  # fal finished; copying the mp4 to our storage
    COMPLETED = "completed", "Completed"  # archived and measured: the end of the happy path
    FAILED = "failed", "Failed"  # an end; error_code and error_message say why
    CANCELLING = "cancelling", "Cancelling"  # cancel sent to fal; a running request may still finish
    CANCELLED = "cancelled", "Cancelled"  # an end


class Generation(models.Model):
    """One request for a video: a source image, a prompt and every model input.

    Lifecycle (see generations.lifecycle for the exact table):

        pending → submitted → in_queue → in_progress → archiving → completed
                                                   ↘ failed, cancelling → cancelled
    """

    Status = GenerationStatus

    IN_FLIGHT = (Status.SUBMITTED, Status.IN_QUEUE, Status.IN_PROGRESS, Status.CANCELLING)
    ENDS = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    code = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    source_image = models.ForeignKey(SourceImage, on_delete=models.PROTECT, related_name="generations")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="generations")
    # The prompt exactly as sent to fal, kept even if the library prompt is edited.
    prompt_text = models.TextField()
    model_id = models.CharField(max_length=200, default=seedance.MODEL_ID, editable=False)

    # Model inputs.
    aspect_ratio = models.CharField(
        max_length=8, choices=seedance.AspectRatio.choices, default=seedance.DEFAULT_ASPECT_RATIO
    )
    resolution = models.CharField(
        max_length=8, choices=seedance.Resolution.choices, default=seedance.DEFAULT_RESOLUTION
    )
    duration = models.PositiveSmallIntegerField(
        choices=seedance.DURATION_CHOICES,
        default=seedance.DEFAULT_DURATION,
        validators=[MinValueValidator(seedance.MIN_DURATION), MaxValueValidator(seedance.MAX_DURATION)],
        help_text="Seconds; sent to fal as a string.",
    )
    camera_fixed = models.BooleanField(default=seedance.DEFAULT_CAMERA_FIXED)
    seed = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(seedance.MAX_SEED)],
        help_text="Empty for a random seed (sent to fal as -1).",
    )
    enable_safety_checker = models.BooleanField(default=seedance.DEFAULT_ENABLE_SAFETY_CHECKER)

    # Outputs.
    seed_used = models.BigIntegerField(null=True, blank=True, help_text="The seed fal reports it used.")
    fal_video_url = models.URLField(max_length=2000, blank=True, help_text="fal's URL; public and expires after days.")
    video = models.FileField(upload_to=generation_video_upload_to, max_length=255, blank=True)
    poster = models.FileField(upload_to=generation_poster_upload_to, max_length=255, blank=True)
    video_duration = models.FloatField(null=True, blank=True, help_text="Seconds, measured.")
    video_width = models.PositiveIntegerField(null=True, blank=True)
    video_height = models.PositiveIntegerField(null=True, blank=True)
    video_fps = models.FloatField(null=True, blank=True)
    video_codec = models.CharField(max_length=32, blank=True)
    video_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    video_sha256 = models.CharField("video SHA-256", max_length=64, blank=True)

    # Bookkeeping.
    fal_request_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    queue_position = models.PositiveIntegerField(null=True, blank=True)
    fal_logs = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="generations"
    )
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="generations")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Submissions to fal so far.")
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        help_text="The generation this one retries or remixes.",
    )
    # Money (US dollars, from settings.FAL_PRICING). `cost` is what counts against the
    # budgets: the estimate is reserved at creation and settled when the generation ends
    # (actual price when completed, nothing when failed or cancelled before it started).
    estimated_cost = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    cost = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    cost_note = models.CharField(max_length=200, blank=True)

    # The team's judgement: a 1–5 rating, the pick among compared variations, tags.
    rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    is_pick = models.BooleanField(default=False, help_text="Chosen as the best of a comparison.")
    tags = models.ManyToManyField("Tag", blank=True, related_name="generations")
    # Trash: hidden from the gallery, restorable until TRASH_RETENTION_DAYS, then purged.
    trashed_at = models.DateTimeField(null=True, blank=True)
    trashed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Pipeline bookkeeping (see generations.pipeline): the idempotency marker set just
    # before a submit call, the next time the request is due a status check, and the
    # lease an archiver holds while it copies the video.
    submit_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_poll_at = models.DateTimeField(null=True, blank=True, editable=False)
    archive_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    # The Celery task id holding the lease: a task redelivered after its worker died
    # keeps its id, so it takes the archive over at once instead of waiting out the lease.
    archive_lease_owner = models.CharField(max_length=64, blank=True, editable=False)
    archive_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    # Fetches of fal's result that failed although fal said COMPLETED without an error;
    # bounded by FAL_RESULT_MAX_ATTEMPTS so a result that keeps answering 5xx ends.
    result_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    # The fal account (user id) a signed webhook for this generation's request came from.
    fal_user_id = models.CharField(max_length=128, blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When fal finished (or it ended).")
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("generate", "Can generate videos (spends money)"),
            ("cancel_generation", "Can cancel generations"),
            ("retry_generation", "Can retry and remix generations (spends money)"),
        ]
        indexes = [
            # Gallery: newest first, keyset pagination on (created_at, id). On PostgreSQL,
            # migration 0008 rebuilds it with INCLUDE columns (what the dashboard's windowed
            # figures read), which Django's model state does not show: SQLite has no INCLUDE.
            models.Index(fields=["-created_at", "-id"], name="gen_created_id"),
            # Dashboard and gallery status filters.
            models.Index(fields=["status", "-created_at"], name="gen_status_created"),
            # "My generations" and spend per user.
            models.Index(fields=["requested_by", "-created_at"], name="gen_requester_created"),
            # The reconcile sweep: only the few rows still waiting on fal.
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["submitted", "in_queue", "in_progress", "cancelling"]),
                name="gen_in_flight_updated",
            ),
        ]
        constraints = [
            # One generation per fal request: a replayed webhook or a double submit fails loudly.
            models.UniqueConstraint(
                fields=["fal_request_id"], condition=~Q(fal_request_id=""), name="gen_unique_fal_request_id"
            ),
            models.CheckConstraint(
                condition=Q(duration__gte=seedance.MIN_DURATION, duration__lte=seedance.MAX_DURATION),
                name="gen_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(seed__isnull=True) | Q(seed__gte=0, seed__lte=seedance.MAX_SEED), name="gen_seed_range"
            ),
            models.CheckConstraint(
                condition=Q(aspect_ratio__in=seedance.AspectRatio.values), name="gen_aspect_ratio_valid"
            ),
            models.CheckConstraint(condition=Q(resolution__in=seedance.Resolution.values), name="gen_resolution_valid"),
            models.CheckConstraint(condition=Q(status__in=GenerationStatus.values), name="gen_status_valid"),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="gen_rating_range"
            ),
            # An archived video has its measurements, so nothing "completed" is half-done.
            models.CheckConstraint(
                condition=~Q(status="completed") | (~Q(video="") & Q(video_sha256__regex=r"^[0-9a-f]{64}$")),
                name="gen_completed_has_video",
            ),
        ]

    def __str__(self) -> str:
        return f"Generation {str(self.code)[:8]} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.ENDS

    @property
    def is_in_flight(self) -> bool:
        return self.status in self.IN_FLIGHT

    @property
    def failure_words(self) -> str:
        """Why it failed (or the problem being retried), in words; the details are in error_message."""
        return failures.words_for(self.error_code)

    @property
    def can_archive_again(self) -> bool:
        """Failed, with its paid video still at fal: the URL is kept, or the result was never fetched."""
        return self.status == self.Status.FAILED and bool(
            self.fal_video_url or (self.fal_request_id and self.error_code == "fal_result_unavailable")
        )

    def fal_arguments(self, *, image_url: str) -> dict:
        """The JSON body fal's queue receives for this generation."""
        return {
            "prompt": self.prompt_text,
            "image_url": image_url,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "duration": str(self.duration),
            "camera_fixed": self.camera_fixed,
            "seed": seedance.RANDOM_SEED if self.seed is None else self.seed,
            "enable_safety_checker": self.enable_safety_checker,
        }


class GenerationStatusCount(models.Model):
    """How many generations are in each status now, and the bytes of their videos: the
    dashboard's all-time figures, read from at most one row per status instead of a scan.

    Maintained by database triggers on the generation table (migration 0007), in the same
    transaction as every insert, delete and change of `status` or `video_bytes`, whichever
    code path makes it (lifecycle.transition, bulk_create, the admin, a queryset update, raw
    SQL). Each change is an arithmetic UPDATE (`count = count + 1`) of this table's row, never a
    read-modify-write, so concurrent transactions cannot lose an increment. Never written by
    the application; `manage.py rebuild_generation_counts` recounts from the table.
    """

    status = models.CharField(max_length=16, primary_key=True, choices=GenerationStatus.choices)
    count = models.BigIntegerField(default=0)
    video_bytes = models.BigIntegerField(default=0, help_text="Sum of video_bytes (empty counts as 0).")

    class Meta:
        verbose_name = "generation status count"

    def __str__(self) -> str:
        return f"{self.status}: {self.count}"


class Tag(models.Model):
    """A label the team puts on videos ("hero", "needs-fix"); names are unique ignoring case."""

    name = models.CharField(max_length=50)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


COLLECTION_DESCRIPTION_MAX = 2000


class Collection(models.Model):
    """A named, ordered set of videos the team assembles (a client delivery, a mood board)."""

    code = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    name = models.CharField(max_length=120)
    # TextField's max_length only sizes the form's textarea; the validator and the constraint enforce it.
    description = models.TextField(
        blank=True,
        max_length=COLLECTION_DESCRIPTION_MAX,
        validators=[
            MaxLengthValidator(
                COLLECTION_DESCRIPTION_MAX,
                message=(
                    "A collection description is at most %(limit_value)d characters (this one has %(show_value)d)."
                ),
            )
        ],
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="collections"
    )
    generations = models.ManyToManyField(Generation, through="CollectionItem", related_name="collections")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), COLLECTION_DESCRIPTION_MAX),
                name="collection_description_max",
                violation_error_message=f"A collection description is at most {COLLECTION_DESCRIPTION_MAX} characters.",
            )
        ]
        # /collections/ pages through collections by name (generations.views_library.collection_index).
        indexes = [models.Index(fields=["name", "id"], name="collection_name_id")]

    def __str__(self) -> str:
        return self.name


class CollectionItem(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="collection_items")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["collection", "generation"], name="collection_item_unique")]

    def __str__(self) -> str:
        return f"{self.generation} in {self.collection}"


class Favourite(models.Model):
    """A person's star on a video (each member has their own favourites)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites")
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "generation"], name="favourite_unique")]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.generation}"


class Budget(models.Model):
    """The spending caps (one row). Empty means no cap. Changes are audited."""

    monthly_team_cap = models.DecimalField(
        "monthly team cap (USD)",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most the whole team may spend in a calendar month (UTC). Empty: no cap.",
    )
    daily_user_cap = models.DecimalField(
        "daily cap per user (USD)",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most one person may spend in a day (UTC). Empty: no cap.",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "budget"
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_team_cap__gte=0) | Q(monthly_team_cap__isnull=True),
                name="budget_monthly_cap_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(daily_user_cap__gte=0) | Q(daily_user_cap__isnull=True),
                name="budget_daily_cap_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return "Budget"

    @classmethod
    def current(cls) -> Budget:
        budget, _ = cls.objects.get_or_create(pk=1)
        return budget


class AuditEvent(models.Model):
    """Who did what, when, and what it cost: generations, cancels, retries, deletions,
    download links and budget changes. Rows are only ever added."""

    class Action(models.TextChoices):
        GENERATE = "generate", "Generate"
        RETRY = "retry", "Retry"
        REMIX = "remix", "Remix"
        CANCEL = "cancel", "Cancel"
        ARCHIVE_RETRY = "archive_retry", "Archive again"
        DELETE = "delete", "Delete"
        DOWNLOAD_LINK = "download_link", "Download link issued"
        BUDGET_CHANGE = "budget_change", "Budget change"
        WEBHOOK_ADOPT = "webhook_adopt", "Request adopted from fal's webhook"
        COLLECTION_RENAME = "collection_rename", "Collection renamed"
        COLLECTION_DESCRIBE = "collection_describe", "Collection description changed"
        COLLECTION_REMOVE = "collection_remove", "Removed from a collection"
        COLLECTION_DELETE = "collection_delete", "Collection deleted"

    action = models.CharField(max_length=32, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    # Kept when the generation itself is deleted.
    generation_code = models.UUIDField(null=True, blank=True)
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    cost = models.DecimalField("cost (USD)", max_digits=12, decimal_places=4, default=0)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"], name="audit_created"),
            models.Index(fields=["action", "-created_at"], name="audit_action_created"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor or 'system'} at {self.created_at:%Y-%m-%d %H:%M}"


class SpendEntry(models.Model):
    """One line of the append-only spend ledger: a reservation, a settlement or a refund.

    Written in the same transaction as the generation's `cost` changes (generations.ledger,
    called by services.generation_create and lifecycle.transition); the lines of a generation
    add up to its cost. Never changed or deleted: a deleted or purged generation keeps its
    lines, with its id, code and inputs, so budgets and past months stay as they were.
    """

    class Kind(models.TextChoices):
        RESERVATION = "reservation", "Reservation"  # the estimate, held when it was requested
        SETTLEMENT = "settlement", "Settlement"  # the difference to the final price
        REFUND = "refund", "Refund"  # the reservation given back (failed, cancelled before fal started)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField("amount (USD)", max_digits=12, decimal_places=4, help_text="Signed.")
    # No database constraint and no cascade: the line outlives the generation it is about.
    generation = models.ForeignKey(
        Generation, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="spend_entries"
    )
    generation_code = models.UUIDField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, db_constraint=False, related_name="+"
    )
    requested_by_name = models.CharField(max_length=150, blank=True)
    batch = models.ForeignKey(Batch, null=True, on_delete=models.SET_NULL, db_constraint=False, related_name="+")
    batch_code = models.UUIDField(null=True, blank=True)
    # The generation's created_at: the budget period (month, day) the money belongs to.
    requested_at = models.DateTimeField()
    inputs = models.JSONField(default=dict, blank=True, help_text="What was asked, kept after deletion.")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "spend entries"
        indexes = [
            models.Index(fields=["requested_at"], name="spend_requested"),
            models.Index(fields=["requested_by", "requested_at"], name="spend_requester_requested"),
            models.Index(fields=["batch", "requested_at"], name="spend_batch_requested"),
            models.Index(fields=["generation_code"], name="spend_generation_code"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+.4f} for {str(self.generation_code)[:8]}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Spend entries are only ever added; record a new one instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Spend entries are never deleted.")


def export_file_upload_to(instance: ExportJob, filename: str) -> str:
    # Under the job's unguessable code; never served by /media/ (views.private_media refuses exports/).
    return f"exports/{instance.code}/{instance.filename}"


class ExportJob(models.Model):
    """A manifest too large to stream in the request (more than EXPORT_INLINE_MAX_ROWS rows),
    written to storage by a worker (generations.exports) and downloaded by its requester only.

    `query` holds what the rows are: for the gallery, its filters as JSON and the order; for a
    collection, the collection's code. `meta` is the manifest's head as it was at the request.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Being written"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSON = "json", "JSON"

    class Kind(models.TextChoices):
        GALLERY = "gallery", "Gallery view"
        COLLECTION = "collection", "Collection"

    code = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    fmt = models.CharField("format", max_length=8, choices=Format.choices)
    query = models.JSONField(default=dict, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    filename = models.CharField(max_length=120, help_text="The download's file name.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(upload_to=export_file_upload_to, max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(fmt__in=["csv", "json"]), name="export_fmt_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "ready", "failed"]), name="export_status_valid"
            ),
        ]
        # "Your exports" (generations.views_exports.export_index): one person's, newest first.
        indexes = [models.Index(fields=["requested_by", "-created_at"], name="export_requester_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} export ({self.fmt}) by {self.requested_by_id}: {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.READY, self.Status.FAILED)
