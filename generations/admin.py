"""The admin: the library, generating from it, and operating generations.

Every action that spends, stops or removes something goes through generations.actions
(budget, duplicate check, audit trail) and is also written to Django's admin log.
The custom pages live in generations.admin_views.
"""

from __future__ import annotations

import functools
import uuid
from functools import update_wrapper

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from . import actions, admin_views, budget
from .admin_views import Outcome, fmt_duration, status_reason
from .budget import BudgetExceeded
from .fal_gateway import FalError
from .lifecycle import IllegalTransition
from .models import AuditEvent, Batch, Budget, Generation, Prompt, SourceImage

S = Generation.Status

CANCELLABLE = (S.PENDING, S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS)
RETRYABLE = (S.FAILED, S.CANCELLED)


class PermissionsMixin:
    """`has_<name>_permission` for the custom permissions, as `@admin.action(permissions=[...])` needs."""

    def has_generate_permission(self, request) -> bool:
        return request.user.has_perm("generations.generate")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("generations.retry_generation")

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("generations.cancel_generation")


def generate_url(**params) -> str:
    query = urlencode(params, doseq=True)
    return reverse("admin:generations_generation_generate") + (f"?{query}" if query else "")


@admin.register(SourceImage)
class SourceImageAdmin(PermissionsMixin, admin.ModelAdmin):
    list_display = (
        "thumbnail",
        "__str__",
        "dimensions",
        "format",
        "size_bytes",
        "seedance_usable",
        "generation_count",
        "created_at",
    )
    list_display_links = ("thumbnail", "__str__")
    list_filter = ("format", "created_at")
    search_fields = ("title", "original_filename", "sha256", "code")
    readonly_fields = (
        "code",
        "seedance_usable",
        "sha256",
        "width",
        "height",
        "format",
        "size_bytes",
        "original_filename",
        "uploaded_by",
        "created_at",
    )
    fields = ("title", "file", *readonly_fields)
    date_hierarchy = "created_at"
    actions = ["generate_videos"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_generation_count=Count("generations"))

    def get_readonly_fields(self, request, obj=None):
        # The file is content-addressed and deduplicated: only the title may change.
        return ("file", *self.readonly_fields) if obj else self.readonly_fields

    def has_add_permission(self, request):
        # Images come in through the ingest service (upload page, import_images),
        # which validates and deduplicates; a raw admin add would bypass both.
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "generate_url": generate_url(images=[unquote(object_id)])
            if self.has_generate_permission(request)
            else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Generate videos from the selected images", permissions=["generate"])
    def generate_videos(self, request, queryset):
        pks = list(queryset.values_list("pk", flat=True)[: actions.MAX_BATCH_SIZE])
        return HttpResponseRedirect(generate_url(images=pks))

    @admin.display(description="")
    def thumbnail(self, obj: SourceImage):
        return format_html('<img class="gen-image-thumb" src="{}" alt="">', obj.file.url)

    @admin.display(description="size")
    def dimensions(self, obj: SourceImage) -> str:
        return f"{obj.width}×{obj.height}"

    @admin.display(description="generations", ordering="_generation_count")
    def generation_count(self, obj: SourceImage) -> int:
        return obj._generation_count

    @admin.display(description="usable with Seedance")
    def seedance_usable(self, obj: SourceImage):
        problem = obj.seedance_problem
        if not problem:
            return "yes"
        return format_html('<strong class="unusable-image">No: {}</strong>', problem)


@admin.register(Prompt)
class PromptAdmin(PermissionsMixin, admin.ModelAdmin):
    list_display = ("__str__", "title", "generation_count", "created_by", "created_at")
    search_fields = ("text", "title", "code")
    readonly_fields = ("code", "text_hash", "created_by", "created_at")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
    actions = ["generate_videos"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_generation_count=Count("generations"))

    def get_readonly_fields(self, request, obj=None):
        # Changing the text would change the dedupe key and the meaning of past generations.
        return ("text", *self.readonly_fields) if obj else self.readonly_fields

    def has_add_permission(self, request):
        return False  # created through services.prompt_get_or_create (dedupe by normalised text)

    @admin.action(description="Generate videos with the selected prompts", permissions=["generate"])
    def generate_videos(self, request, queryset):
        pks = list(queryset.values_list("pk", flat=True)[: actions.MAX_BATCH_SIZE])
        return HttpResponseRedirect(generate_url(prompts=pks))

    @admin.display(description="generations", ordering="_generation_count")
    def generation_count(self, obj: Prompt) -> int:
        return obj._generation_count


class GenerationInline(admin.TabularInline):
    model = Generation
    fields = ("code", "status", "prompt_text", "resolution", "duration", "cost", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "note", "generation_count", "generations_link", "created_at")
    search_fields = ("note", "code", "owner__username")
    readonly_fields = ("code", "owner", "created_at", "generations_link")
    list_select_related = ("owner",)
    inlines = [GenerationInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_generation_count=Count("generations"))

    def has_add_permission(self, request):
        return False

    @admin.display(description="generations", ordering="_generation_count")
    def generation_count(self, obj: Batch) -> int:
        return obj._generation_count

    @admin.display(description="list")
    def generations_link(self, obj: Batch):
        url = reverse("admin:generations_generation_changelist") + f"?batch={obj.code}"
        return format_html('<a href="{}">Show its generations</a>', url)


class BatchFilter(admin.SimpleListFilter):
    """The latest batches (and the one chosen); `?batch=<code>`, as the generate page links to."""

    title = "batch"
    parameter_name = "batch"
    LATEST = 10

    def lookups(self, request, model_admin):
        batches = list(Batch.objects.order_by("-created_at", "-id")[: self.LATEST])
        chosen = self._code()
        if chosen and all(b.code != chosen for b in batches):
            batches += list(Batch.objects.filter(code=chosen))
        return [(str(b.code), str(b)) for b in batches]

    def _code(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self.value()) if self.value() else None
        except ValueError:
            return None

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        code = self._code()
        return queryset.filter(batch__code=code) if code else queryset.none()


@admin.register(Generation)
class GenerationAdmin(PermissionsMixin, admin.ModelAdmin):
    list_display = (
        "thumbnail",
        "short_code",
        "status_badge",
        "prompt_excerpt",
        "source_image",
        "resolution",
        "aspect_ratio",
        "duration",
        "seed_used",
        "cost_display",
        "requested_by",
        "batch_link",
        "created_at",
    )
    list_display_links = ("thumbnail", "short_code")
    list_filter = (
        "status",
        "resolution",
        "aspect_ratio",
        "duration",
        BatchFilter,
        ("requested_by", admin.RelatedOnlyFieldListFilter),
        "created_at",
        "camera_fixed",
    )
    search_fields = ("prompt_text", "code", "fal_request_id", "requested_by__username")
    # Every column of a row comes from this one query: the row count never adds queries.
    list_select_related = ("source_image", "requested_by", "batch")
    raw_id_fields = ("source_image", "prompt", "batch", "requested_by")
    date_hierarchy = "created_at"
    readonly_fields = [
        *(f.name for f in Generation._meta.fields if f.name not in ("id", "fal_logs")),
        "fal_logs_table",
        "timings",
    ]
    actions = [
        "cancel_selected",
        "retry_selected",
        "remix_selected",
        "remix_with_edited_prompt",
        "retry_archive_selected",
        "delete_selected",
    ]
    fieldsets = (
        (
            "Inputs",
            {
                "fields": (
                    "code",
                    "source_image",
                    "prompt",
                    "prompt_text",
                    "aspect_ratio",
                    "resolution",
                    "duration",
                    "camera_fixed",
                    "seed",
                    "enable_safety_checker",
                    "model_id",
                )
            },
        ),
        (
            "Result",
            {
                "fields": (
                    "status",
                    "seed_used",
                    "video",
                    "poster",
                    "fal_video_url",
                    "video_duration",
                    "video_width",
                    "video_height",
                    "video_fps",
                    "video_codec",
                    "video_bytes",
                    "video_sha256",
                )
            },
        ),
        ("Cost", {"fields": ("estimated_cost", "cost", "cost_note")}),
        (
            "Progress and errors",
            {
                "fields": (
                    "fal_request_id",
                    "queue_position",
                    "attempts",
                    "archive_attempts",
                    "error_code",
                    "error_message",
                    "fal_logs_table",
                )
            },
        ),
        (
            "Who and when",
            {
                "fields": (
                    "requested_by",
                    "batch",
                    "retry_of",
                    "timings",
                    "created_at",
                    "submitted_at",
                    "started_at",
                    "finished_at",
                    "archived_at",
                    "updated_at",
                )
            },
        ),
    )

    def has_add_permission(self, request):
        return False  # generations are created through the generate page (validation, budget)

    def has_delete_permission(self, request, obj=None):
        # Only ended generations; anything at fal must be cancelled first.
        if obj is not None and obj.status not in Generation.ENDS:
            return False
        return super().has_delete_permission(request, obj)

    def get_queryset(self, request):
        # The logs can be long; the list never shows them.
        return super().get_queryset(request).defer("fal_logs")

    def get_urls(self):
        def wrap(view):
            def wrapper(*args, **kwargs):
                return self.admin_site.admin_view(view)(*args, **kwargs)

            return update_wrapper(wrapper, view)

        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("generate/", wrap(self.generate_view), name=f"{info}_generate"),
            path("status/", wrap(self.status_view), name=f"{info}_status"),
            path("<path:object_id>/run/<str:name>/", wrap(self.run_action_view), name=f"{info}_run"),
            *super().get_urls(),
        ]

    def generate_view(self, request):
        return admin_views.generate(self, request)

    def status_view(self, request):
        return admin_views.status_feed(self, request)

    def run_action_view(self, request, object_id, name):
        return admin_views.run_action(self, request, object_id, name)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "generate_url": generate_url() if self.has_generate_permission(request) else None,
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            # Every field is read-only: no save buttons (Delete stays, for ended ones).
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        if obj is not None:
            extra_context.update(
                buttons=self._buttons(request, obj),
                remix_url=generate_url(remix=obj.code)
                if self.has_generate_permission(request) and self.has_retry_permission(request)
                else None,
                retries=list(obj.retries.order_by("created_at").only("pk", "code", "status", "created_at")),
                durations=self.timings(obj),
                now=timezone.now(),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _buttons(self, request, obj: Generation) -> list[tuple[str, str]]:
        """(action name, label) of the change page's buttons that apply to this generation."""
        available = self.get_actions(request)
        candidates = [
            ("cancel_selected", "Cancel", obj.status in CANCELLABLE),
            ("retry_selected", "Retry", obj.status in RETRYABLE),
            ("remix_selected", "Remix (new seed)", True),
            ("retry_archive_selected", "Archive again", obj.can_archive_again),
        ]
        return [(name, label) for name, label, applies in candidates if applies and name in available]

    # --- actions: each goes through generations.actions, item by item ---------------

    @admin.action(description="Cancel selected generations", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        outcome = Outcome("cancelled")
        for generation in queryset:
            if generation.status not in CANCELLABLE:
                outcome.skip(generation, status_reason(generation.status))
                continue
            try:
                status = actions.cancel(generation, user=request.user)
            except IllegalTransition as exc:  # it moved on meanwhile
                outcome.skip(generation, status_reason(exc.current))
                continue
            except FalError as exc:
                # pipeline.cancel marked it "cancelling" before calling fal; the poll it
                # scheduled finds out how the request ends.
                self.log_change(request, generation, f"Cancel requested; fal could not be reached: {exc}")
                outcome.skip(
                    generation,
                    f"marked cancelling, but fal could not be reached ({exc}); it is checked again",
                    kind="not confirmed",
                )
                continue
            self.log_change(request, generation, f"Cancelled (now {status}).")
            outcome.ok(generation)
        outcome.report(self, request)

    @admin.action(description="Retry selected generations (failed or cancelled)", permissions=["retry"])
    def retry_selected(self, request, queryset):
        confirmed = request.POST.get("confirm_retry") == "yes"
        concerns = [] if confirmed else [(g, actions.retry_concern(g)) for g in queryset if g.status in RETRYABLE]
        concerns = [(g, concern) for g, concern in concerns if concern]
        if concerns:
            # Already retried, or refused by fal's content checker: most likely money for nothing. Ask first.
            return TemplateResponse(
                request,
                "admin/generations/generation/retry_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Retry again anyway?",
                    "opts": self.model._meta,
                    "concerns": concerns,
                    "queryset": queryset,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        retry = functools.partial(actions.retry, confirmed=confirmed)
        self._respawn(request, queryset, "retried", RETRYABLE, retry, "only failed or cancelled ones")
        return None

    @admin.action(description="Remix selected generations (same inputs, new random seed)", permissions=["retry"])
    def remix_selected(self, request, queryset):
        self._respawn(request, queryset, "remixed", tuple(S), actions.remix, "")

    def _respawn(self, request, queryset, verb, allowed, action, only):
        """Retry or remix each generation: a new one (and its price) per item, within the budget."""
        outcome = Outcome(verb)
        refused = ""  # once the budget says no, the rest is not tried
        for generation in queryset.select_related("source_image"):
            if generation.status not in allowed:
                outcome.skip(generation, f"{status_reason(generation.status)} ({only})")
                continue
            if refused:
                outcome.skip(generation, refused)
                continue
            try:
                new = action(generation, user=request.user)
            except BudgetExceeded as exc:
                refused = f"over budget: {exc}"
                outcome.skip(generation, refused)
                continue
            except (actions.NotAllowed, IllegalTransition) as exc:  # it moved on meanwhile
                outcome.skip(generation, str(exc))
                continue
            except ValidationError as exc:
                outcome.skip(generation, "; ".join(exc.messages))
                continue
            self.log_change(request, generation, f"{verb.capitalize()} as generation {new.code}.")
            self.log_addition(request, new, f"{verb.capitalize()} from generation {generation.code}.")
            outcome.ok(generation, new)
        outcome.report(self, request)

    @admin.action(description="Remix with an edited prompt (one generation)", permissions=["retry", "generate"])
    def remix_with_edited_prompt(self, request, queryset):
        generations = list(queryset[:2])
        if len(generations) != 1:
            self.message_user(request, "Choose exactly one generation to remix with an edited prompt.", messages.ERROR)
            return None
        return HttpResponseRedirect(generate_url(remix=generations[0].code))

    @admin.action(description="Archive again (failed archives with fal's video URL)", permissions=["retry"])
    def retry_archive_selected(self, request, queryset):
        outcome = Outcome("sent to be archived again")
        for generation in queryset:
            if not generation.can_archive_again:
                reason = "no video at fal to archive" if generation.status == S.FAILED else "only failed ones"
                outcome.skip(generation, f"{status_reason(generation.status)} ({reason})")
                continue
            try:
                actions.retry_archive(generation, user=request.user)
            except IllegalTransition as exc:
                outcome.skip(generation, status_reason(exc.current))
                continue
            self.log_change(request, generation, "Archive retried from fal's kept URL.")
            outcome.ok(generation)
        outcome.report(self, request)

    @admin.action(description="Delete selected generations (ended ones)", permissions=["delete"])
    def delete_selected(self, request, queryset):
        """Django's confirmation page, but each deletion goes through actions.delete."""
        if request.POST.get("post"):
            self._delete_each(request, queryset).report(self, request)
            return None
        ended = queryset.filter(status__in=Generation.ENDS)
        running = queryset.exclude(status__in=Generation.ENDS).count()
        if not ended.exists():
            self.message_user(
                request, "None of the selected generations has ended; cancel them before deleting.", messages.ERROR
            )
            return None
        if running:
            self.message_user(
                request,
                f"{running} of the selected generations have not ended and will be kept (cancel them first).",
                messages.WARNING,
            )
        return django_delete_selected(self, request, ended)

    def _delete_each(self, request, queryset) -> Outcome:
        outcome = Outcome("deleted")
        for generation in queryset:
            if generation.status not in Generation.ENDS:
                outcome.skip(generation, f"{status_reason(generation.status)}; cancel it first")
                continue
            try:
                with transaction.atomic():
                    self.log_deletions(request, [generation])
                    actions.delete(generation, user=request.user)
            except actions.NotAllowed as exc:
                outcome.skip(generation, str(exc))
                continue
            outcome.ok(generation)
        return outcome

    def delete_queryset(self, request, queryset):
        self._delete_each(request, queryset)

    def delete_model(self, request, obj):
        actions.delete(obj, user=request.user)

    # --- columns --------------------------------------------------------------------

    @admin.display(description="")
    def thumbnail(self, obj: Generation):
        if obj.poster:
            return format_html('<img class="gen-thumb" src="{}" alt="" loading="lazy">', obj.poster.url)
        return format_html('<span class="gen-thumb gen-thumb-empty" title="No poster yet">{}</span>', "▶")

    @admin.display(description="id", ordering="created_at")
    def short_code(self, obj: Generation) -> str:
        return str(obj.code)[:8]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Generation):
        label = obj.get_status_display()
        if obj.status == S.IN_QUEUE and obj.queue_position is not None:
            label = f"{label} · {obj.queue_position} ahead"
        elif obj.status == S.IN_PROGRESS and obj.started_at:
            label = f"{label} · {fmt_duration((timezone.now() - obj.started_at).total_seconds())}"
        elif obj.status == S.ARCHIVING and obj.finished_at:
            label = f"{label} · {fmt_duration((timezone.now() - obj.finished_at).total_seconds())}"
        title = f"{obj.error_code}: {obj.error_message}" if obj.status == S.FAILED else ""
        return format_html(
            # Colours by status come from admin.css (the Content-Security-Policy allows no style="").
            '<span class="gen-badge status-{}" data-generation-id="{}" data-status="{}" '
            'data-finished="{}" title="{}">{}</span>',
            obj.status,
            obj.pk,
            obj.status,
            "true" if obj.is_finished else "false",
            title,
            label,
        )

    @admin.display(description="prompt", ordering="prompt_text")
    def prompt_excerpt(self, obj: Generation) -> str:
        text = obj.prompt_text
        return text if len(text) <= 60 else text[:59] + "…"

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, obj: Generation):
        if not obj.is_finished:
            return format_html('<span title="Reserved until it ends">≈ ${}</span>', f"{obj.cost:.4f}")
        if obj.cost_note:
            return format_html('<span title="{}">${} *</span>', obj.cost_note, f"{obj.cost:.4f}")
        return f"${obj.cost:.4f}"

    @admin.display(description="batch", ordering="batch__created_at")
    def batch_link(self, obj: Generation):
        if obj.batch is None:
            return "–"
        url = reverse("admin:generations_generation_changelist") + f"?batch={obj.batch.code}"
        return format_html('<a href="{}" title="Only this batch">{}</a>', url, str(obj.batch.code)[:8])

    # --- change page ----------------------------------------------------------------

    @admin.display(description="fal logs")
    def fal_logs_table(self, obj: Generation):
        logs = obj.fal_logs or []
        if not logs:
            return "–"
        rows = []
        for entry in logs:
            if not isinstance(entry, dict):
                entry = {"message": str(entry)}
            stamp = parse_datetime(str(entry.get("timestamp") or ""))
            rows.append(
                (
                    stamp.strftime("%H:%M:%S.%f")[:-3] if stamp else str(entry.get("timestamp") or ""),
                    str(entry.get("level") or ""),
                    str(entry.get("message") or ""),
                )
            )
        return format_html(
            '<table class="gen-logs"><thead><tr><th>time</th><th>level</th><th>message</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            format_html_join("", '<tr><td>{}</td><td class="level">{}</td><td>{}</td></tr>', rows),
        )

    @admin.display(description="durations")
    def timings(self, obj: Generation):
        steps = [
            ("waiting to be sent", obj.created_at, obj.submitted_at),
            ("in fal's queue", obj.submitted_at, obj.started_at),
            ("generating", obj.started_at, obj.finished_at),
            ("archiving", obj.finished_at, obj.archived_at),
            ("total", obj.created_at, obj.archived_at or obj.finished_at),
        ]
        rows = [(label, fmt_duration((end - start).total_seconds())) for label, start, end in steps if start and end]
        if not rows:
            return "–"
        return format_html_join(mark_safe("<br>"), "{}: {}", rows)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail: rows are only ever added (by generations.audit), so read-only here."""

    list_display = ("created_at", "action", "actor", "message", "cost", "generation_link", "batch")
    list_filter = ("action", ("actor", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("message", "generation_code")
    list_select_related = ("actor", "generation", "batch")
    date_hierarchy = "created_at"
    readonly_fields = (
        "created_at",
        "action",
        "actor",
        "message",
        "cost",
        "generation",
        "generation_code",
        "batch",
        "details",
    )
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="generation", ordering="generation_code")
    def generation_link(self, obj: AuditEvent):
        if obj.generation_id:
            url = reverse("admin:generations_generation_change", args=[obj.generation_id])
            return format_html('<a href="{}">{}</a>', url, str(obj.generation_code or obj.generation.code)[:8])
        if obj.generation_code:
            return format_html('<span title="deleted">{} (deleted)</span>', str(obj.generation_code)[:8])
        return "–"


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    """The one Budget row; saving goes through actions.budget_update (audited)."""

    fields = ("monthly_team_cap", "daily_user_cap", "updated_by", "updated_at")
    readonly_fields = ("updated_by", "updated_at")
    list_display = ("__str__", "monthly_team_cap", "daily_user_cap", "updated_by", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # There is one row: go straight to it.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:generations_budget_change", args=[Budget.current().pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "budget_status": budget.status_for(request.user)}
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        saved = actions.budget_update(
            user=request.user,
            monthly_team_cap=form.cleaned_data["monthly_team_cap"],
            daily_user_cap=form.cleaned_data["daily_user_cap"],
        )
        obj.pk = saved.pk
