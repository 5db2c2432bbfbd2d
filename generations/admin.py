from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html

from .models import Batch, Generation, Prompt, SourceImage

STATUS_COLOURS = {
    Generation.Status.PENDING: "#6b7280",
    Generation.Status.SUBMITTED: "#2563eb",
    Generation.Status.IN_QUEUE: "#2563eb",
    Generation.Status.IN_PROGRESS: "#7c3aed",
    Generation.Status.ARCHIVING: "#0891b2",
    Generation.Status.COMPLETED: "#16a34a",
    Generation.Status.FAILED: "#dc2626",
    Generation.Status.CANCELLING: "#d97706",
    Generation.Status.CANCELLED: "#6b7280",
}


@admin.register(SourceImage)
class SourceImageAdmin(admin.ModelAdmin):
    list_display = ("thumbnail", "__str__", "dimensions", "format", "size_bytes", "generation_count", "created_at")
    list_display_links = ("thumbnail", "__str__")
    list_filter = ("format", "created_at")
    search_fields = ("title", "original_filename", "sha256", "code")
    readonly_fields = (
        "code",
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

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_generation_count=Count("generations"))

    def get_readonly_fields(self, request, obj=None):
        # The file is content-addressed and deduplicated: only the title may change.
        return ("file", *self.readonly_fields) if obj else self.readonly_fields

    def has_add_permission(self, request):
        # Images come in through the ingest service (upload page, import_images),
        # which validates and deduplicates; a raw admin add would bypass both.
        return False

    @admin.display(description="")
    def thumbnail(self, obj: SourceImage):
        return format_html('<img src="{}" alt="" style="height:48px;border-radius:4px">', obj.file.url)

    @admin.display(description="size")
    def dimensions(self, obj: SourceImage) -> str:
        return f"{obj.width}×{obj.height}"

    @admin.display(description="generations", ordering="_generation_count")
    def generation_count(self, obj: SourceImage) -> int:
        return obj._generation_count


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("__str__", "title", "generation_count", "created_by", "created_at")
    search_fields = ("text", "title", "code")
    readonly_fields = ("code", "text_hash", "created_by", "created_at")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_generation_count=Count("generations"))

    def get_readonly_fields(self, request, obj=None):
        # Changing the text would change the dedupe key and the meaning of past generations.
        return ("text", *self.readonly_fields) if obj else self.readonly_fields

    def has_add_permission(self, request):
        return False  # created through services.prompt_get_or_create (dedupe by normalised text)

    @admin.display(description="generations", ordering="_generation_count")
    def generation_count(self, obj: Prompt) -> int:
        return obj._generation_count


class GenerationInline(admin.TabularInline):
    model = Generation
    fields = ("code", "status", "prompt_text", "resolution", "duration", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "note", "generation_count", "created_at")
    search_fields = ("note", "code", "owner__username")
    readonly_fields = ("code", "owner", "created_at")
    list_select_related = ("owner",)
    inlines = [GenerationInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_generation_count=Count("generations"))

    def has_add_permission(self, request):
        return False

    @admin.display(description="generations", ordering="_generation_count")
    def generation_count(self, obj: Batch) -> int:
        return obj._generation_count


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = (
        "short_code",
        "status_badge",
        "prompt_excerpt",
        "source_image",
        "resolution",
        "aspect_ratio",
        "duration",
        "seed_used",
        "requested_by",
        "created_at",
    )
    list_filter = ("status", "resolution", "aspect_ratio", "duration", "camera_fixed", "created_at")
    search_fields = ("prompt_text", "code", "fal_request_id", "requested_by__username")
    list_select_related = ("source_image", "requested_by")
    raw_id_fields = ("source_image", "prompt", "batch", "requested_by")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Generation._meta.fields if f.name != "id"]
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
        (
            "Progress and errors",
            {
                "fields": (
                    "fal_request_id",
                    "queue_position",
                    "attempts",
                    "error_code",
                    "error_message",
                    "fal_logs",
                )
            },
        ),
        (
            "Who and when",
            {
                "fields": (
                    "requested_by",
                    "batch",
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
        return False  # generations are created through the generate action (validation, budget)

    def get_queryset(self, request):
        # The logs can be long; the list never shows them.
        return super().get_queryset(request).defer("fal_logs")

    @admin.display(description="id", ordering="created_at")
    def short_code(self, obj: Generation) -> str:
        return str(obj.code)[:8]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Generation):
        return format_html(
            '<span style="color:#fff;background:{};padding:2px 8px;border-radius:10px;white-space:nowrap">{}</span>',
            STATUS_COLOURS.get(obj.status, "#6b7280"),
            obj.get_status_display(),
        )

    @admin.display(description="prompt", ordering="prompt_text")
    def prompt_excerpt(self, obj: Generation) -> str:
        text = obj.prompt_text
        return text if len(text) <= 60 else text[:59] + "…"
