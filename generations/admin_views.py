"""The admin's custom pages: generate videos, the changelist's status feed, and the
per-generation buttons. Thin: each calls generations.actions and reports the outcome.

They are wired in through GenerationAdmin.get_urls (admin_site.admin_view: staff only);
each checks its own permission as well, so hiding a button is never the only guard.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.admin.utils import display_for_field, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import actions, budget
from .audit import Action
from .bad_input import BadInput
from .forms import GenerateForm, initial_from_generation
from .models import Generation, SourceImage
from .validators import is_id, parse_id, prompt_fingerprint

# The changelist asks for at most one page of rows at a time.
MAX_STATUS_IDS = 200
# Cells of a changelist row that change while a generation runs (GenerationAdmin methods).
LIVE_CELLS = ("thumbnail", "status_badge", "seed_used", "cost_display")


# --- generate ------------------------------------------------------------------

GENERATE_FIELDSETS = [
    ("What to animate", {"fields": ["images", "library_prompts", "typed_prompts", "remix_of"]}),
    (
        "Model settings",
        {
            "fields": [
                ("aspect_ratio", "resolution", "duration"),
                "seed",
                ("camera_fixed", "enable_safety_checker"),
            ]
        },
    ),
    ("How many", {"fields": ["variations", "note", "allow_duplicates"]}),
]


def generate(model_admin, request: HttpRequest) -> HttpResponse:
    """The generate page: GET shows the form, "Preview" prices it, "Generate" queues it."""
    user = request.user
    if not user.has_perm("generations.generate"):
        raise PermissionDenied
    if request.method == "POST":
        form = GenerateForm(request.POST, admin_site=model_admin.admin_site)
        if form.is_valid() and "_generate" in request.POST and _as_previewed(request, form):
            created = _request(model_admin, request, form)
            if created:
                return _after_generate(model_admin, request, created)
    else:
        initial = {
            "images": _link_ids(request, "images", what="an image id"),
            "library_prompts": _link_ids(request, "prompts", what="a prompt id"),
        }
        if request.GET.get("remix"):
            initial = initial_from_generation(_remixable(request, request.GET["remix"]))
        form = GenerateForm(initial=initial, admin_site=model_admin.admin_site)
    opts = model_admin.opts
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Remix with an edited prompt" if _remix_code(form) else "Generate videos",
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "form": form,
        "adminform": helpers.AdminForm(form, GENERATE_FIELDSETS, {}, model_admin=model_admin),
        "errors": helpers.AdminErrorList(form, []),
        "media": model_admin.media + form.media,
        "preview": _preview(form.plan) if form.plan else None,
        "budget": budget.status_for(user),
        "chosen_images": _chosen(form, "images"),
        "remix_of": _remix_of(form),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/generations/generate.html", context)


def _as_previewed(request: HttpRequest, form: GenerateForm) -> bool:
    """False (with an error) when the form changed after its preview: show the new price first."""
    previewed = request.POST.get("previewed")
    if previewed and previewed != _preview(form.plan).signature:
        form.add_error(
            None,
            "The request changed since the preview; check the new count and cost below, then click Generate again.",
        )
        return False
    return True


def _request(model_admin, request: HttpRequest, form: GenerateForm) -> list[Generation]:
    """Queue the form's plan; returns the new generations, or [] with the reason on the form."""
    remix_of = form.cleaned_data.get("remix_of")
    extra = {}
    if remix_of is not None:
        if not request.user.has_perm("generations.retry_generation"):
            raise PermissionDenied
        extra = {"retry_of": remix_of, "action": Action.REMIX}
    try:
        return actions.request(
            form.plan,
            user=request.user,
            note=form.cleaned_data["note"],
            allow_duplicates=form.cleaned_data["allow_duplicates"],
            **extra,
        )
    except budget.BudgetExceeded as exc:
        form.add_error(None, f"Nothing was generated: {exc}")
    except actions.DuplicateRequest as exc:
        form.add_error("allow_duplicates", str(exc))
    except ValidationError as exc:
        form.add_error(None, exc)
    return []


def _after_generate(model_admin, request: HttpRequest, created: list[Generation]) -> HttpResponse:
    total = sum((g.cost for g in created), Decimal(0))
    batch = created[0].batch
    how = f"remix of {str(created[0].retry_of.code)[:8]}" if created[0].retry_of else "the generate page"
    entries = [*created, batch] if batch else created
    LogEntry.objects.log_actions(
        user_id=request.user.pk,
        queryset=entries,
        action_flag=ADDITION,
        change_message=f"Requested from {how}" + (f" in batch {str(batch.code)[:8]}." if batch else "."),
    )
    if batch is not None:
        url = reverse("admin:generations_generation_changelist") + f"?batch={batch.code}"
        model_admin.message_user(
            request,
            f"Queued {len(created)} generations in batch {str(batch.code)[:8]} "
            f"for an estimated ${total:.2f} (${total:.4f}).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(url)
    [generation] = created
    model_admin.message_user(
        request,
        f"Queued generation {str(generation.code)[:8]} for an estimated ${total:.2f} (${total:.4f}).",
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:generations_generation_change", args=[generation.pk]))


def _link_ids(request: HttpRequest, param: str, *, what: str) -> list[str]:
    """The ids a link preselects (?images=1&images=2, from the images' "Generate" buttons);
    one that cannot be an id (validators.parse_id) is refused with 400 saying which."""
    values = request.GET.getlist(param)
    try:
        for value in values:
            parse_id(value, what=what)
    except ValidationError as exc:
        raise BadInput(
            f"This link's “{param}” is wrong: {exc.messages[0]}",
            back_url=reverse("admin:generations_generation_generate"),
            back_label="Open the generate page without it",
        ) from None
    return values


def _remixable(request: HttpRequest, code: str) -> Generation:
    if not request.user.has_perm("generations.retry_generation"):
        raise PermissionDenied
    try:
        return get_object_or_404(Generation.objects.select_related("source_image"), code=code)
    except ValidationError:  # not a UUID
        raise Http404("No such generation.") from None


def _remix_code(form: GenerateForm) -> str:
    value = form["remix_of"].value()
    return str(value) if value else ""


def _remix_of(form: GenerateForm) -> Generation | None:
    code = _remix_code(form)
    if not code:
        return None
    try:
        return Generation.objects.filter(code=code).first()
    except ValidationError:
        return None


def _chosen(form: GenerateForm, name: str) -> list:
    """The objects currently picked in a multiple-choice field (bound or initial), for thumbnails."""
    values = [v for v in (form[name].value() or []) if is_id(v)]
    if not values:
        return []
    return list(form.fields[name].queryset.filter(pk__in=values))


@dataclass
class ImageLine:
    image: SourceImage
    count: int = 0
    unit_cost: Decimal = Decimal(0)

    @property
    def subtotal(self) -> Decimal:
        return self.unit_cost * self.count


@dataclass
class Preview:
    count: int
    total_cost: Decimal
    lines: list[ImageLine]
    prompts: list[str]
    seeds: str
    duplicates: list[tuple[actions.PlannedGeneration, Generation]] = field(default_factory=list)
    # What the admin saw and agreed to (every planned item), to notice edits made after it.
    signature: str = ""


def _preview(plan: actions.Plan) -> Preview:
    lines: dict[int, ImageLine] = {}
    prompts: list[str] = []
    seeds: list[int | None] = []
    for item in plan.items:
        line = lines.setdefault(item.source_image.pk, ImageLine(image=item.source_image, unit_cost=item.cost))
        line.count += 1
        if item.prompt_text not in prompts:
            prompts.append(item.prompt_text)
        if item.params.seed not in seeds:
            seeds.append(item.params.seed)
    if seeds == [None]:
        seed_text = "random for each video"
    elif len(seeds) == 1:
        seed_text = str(seeds[0])
    else:
        seed_text = f"{seeds[0]}…{seeds[-1]}"
    duplicates = [(item, item.identical) for item in plan.duplicates]
    planned = [
        (i.source_image.pk, prompt_fingerprint(i.prompt_text), sorted(vars(i.params).items())) for i in plan.items
    ]
    return Preview(
        signature=hashlib.sha256(repr(planned).encode()).hexdigest()[:16],
        count=plan.count,
        total_cost=plan.total_cost,
        lines=list(lines.values()),
        prompts=prompts,
        seeds=seed_text,
        duplicates=duplicates,
    )


# --- the changelist's status feed ---------------------------------------------------


def status_feed(model_admin, request: HttpRequest) -> HttpResponse:
    """Statuses and live cells of the generations a changelist page shows (?id=1&id=2…)."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    try:
        ids = [parse_id(v, what="a generation id") for v in request.GET.getlist("id")[:MAX_STATUS_IDS]]
    except ValidationError as exc:
        return JsonResponse({"error": exc.messages[0]}, status=400)
    rows = model_admin.get_queryset(request).filter(pk__in=ids)
    return JsonResponse(
        {
            "generations": [
                {
                    "id": g.pk,
                    "status": g.status,
                    "finished": g.is_finished,
                    "cells": {name: _cell(model_admin, name, g) for name in LIVE_CELLS},
                }
                for g in rows
            ]
        }
    )


def _cell(model_admin, name: str, generation: Generation) -> str:
    """A changelist cell's HTML, as the list renders it: an admin method or a model field."""
    method = getattr(model_admin, name, None)
    if callable(method):
        return str(method(generation))
    value = getattr(generation, name)
    return str(display_for_field(value, Generation._meta.get_field(name), model_admin.get_empty_value_display()))


# --- per-generation buttons ----------------------------------------------------------


def run_action(model_admin, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
    """A change page button: run one changelist action on this generation, then come back."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    available = model_admin.get_actions(request)
    if name not in available or name == "delete_selected":
        raise PermissionDenied
    generation = model_admin.get_object(request, unquote(object_id))
    if generation is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    func = available[name][0]
    response = func(model_admin, request, model_admin.get_queryset(request).filter(pk=generation.pk))
    return response or HttpResponseRedirect(reverse("admin:generations_generation_change", args=[generation.pk]))


# --- reporting per-item outcomes -----------------------------------------------------


class Outcome:
    """What an action did to each selected generation, said in one message:
    "2 cancelled; 1 skipped: already completed"."""

    def __init__(self, verb: str):
        self.verb = verb
        self.done: list[tuple[Generation, Generation | None]] = []
        self.skipped: dict[tuple[str, str], list[Generation]] = defaultdict(list)

    def ok(self, generation: Generation, new: Generation | None = None) -> None:
        self.done.append((generation, new))

    def skip(self, generation: Generation, reason: str, *, kind: str = "skipped") -> None:
        self.skipped[(kind, reason)].append(generation)

    @property
    def level(self) -> int:
        if not self.skipped:
            return messages.SUCCESS
        return messages.WARNING if self.done else messages.ERROR

    def message(self):
        parts = []
        if self.done:
            new = [n for _, n in self.done if n is not None]
            if new:
                links = format_html_join(
                    ", ",
                    '<a href="{}">{}</a>',
                    ((reverse("admin:generations_generation_change", args=[n.pk]), str(n.code)[:8]) for n in new[:10]),
                )
                more = f" and {len(new) - 10} more" if len(new) > 10 else ""
                parts.append(format_html("{} {} (new: {}{})", len(self.done), self.verb, links, more))
            else:
                parts.append(f"{len(self.done)} {self.verb}")
        elif not self.skipped:
            parts.append(f"Nothing {self.verb}: no generations selected")
        for (kind, reason), generations in self.skipped.items():
            codes = ", ".join(str(g.code)[:8] for g in generations[:5])
            more = " …" if len(generations) > 5 else ""
            parts.append(f"{len(generations)} {kind} ({codes}{more}): {reason}")
        return format_html_join("; ", "{}", ((p,) for p in parts))

    def report(self, model_admin, request: HttpRequest) -> None:
        model_admin.message_user(request, self.message(), self.level)


STATUS_REASONS = {
    Generation.Status.PENDING: "not sent to fal yet",
    Generation.Status.SUBMITTED: "still running",
    Generation.Status.IN_QUEUE: "still running (in fal's queue)",
    Generation.Status.IN_PROGRESS: "still running",
    Generation.Status.ARCHIVING: "already finished at fal (its video is being archived)",
    Generation.Status.COMPLETED: "already completed",
    Generation.Status.FAILED: "already failed",
    Generation.Status.CANCELLING: "already being cancelled",
    Generation.Status.CANCELLED: "already cancelled",
    None: "no longer exists",
}


def status_reason(status: str | None) -> str:
    return STATUS_REASONS.get(status, str(status))


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
