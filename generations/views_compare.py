"""Comparing variations side by side (and choosing the pick), and the trash.

/compare/?ids=<code>,<code>[,…]      2–4 generations, synchronised players, the inputs with differences marked
/compare/pick/                       POST: mark one of the compared as the pick (curation: any viewer)
/compare/variations/<code>/          redirect to /compare/ with up to 4 videos of the same image and prompt
/trash/                              the trashed generations, restorable (generators: permissions.can_open_trash)
/trash/restore/                      POST: restore one or a selection
/generations/<code>/trash/           POST: move one to the trash
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import permissions, trash
from .models import Generation
from .views import viewer_required

logger = logging.getLogger(__name__)

MIN_COMPARED, MAX_COMPARED = 2, 4
TRASH_PAGE_SIZE = 50


# --- Which generations are compared ------------------------------------------------


class CompareError(ValueError):
    """The id list cannot be compared; the message says why, in words for the page."""


def parse_codes(raw: str) -> list[uuid.UUID]:
    """The distinct codes of a comma-separated list, in order; CompareError unless 2–4 valid ones."""
    parts = [p.strip() for p in (raw or "").split(",") if p.strip()]
    codes: list[uuid.UUID] = []
    for part in parts:
        try:
            code = uuid.UUID(part)
        except ValueError:
            raise CompareError(f"“{part[:40]}” is not a generation code.") from None
        if code not in codes:
            codes.append(code)
    if not MIN_COMPARED <= len(codes) <= MAX_COMPARED:
        raise CompareError(
            f"Compare {MIN_COMPARED} to {MAX_COMPARED} different generations; this list has {len(codes)}."
        )
    return codes


def compared_generations(codes: list[uuid.UUID]) -> list[Generation]:
    """The generations, in the order asked; CompareError naming any unknown or trashed code."""
    rows = Generation.objects.filter(code__in=codes, trashed_at__isnull=True).select_related("source_image")
    by_code = {g.code: g for g in rows.defer("fal_logs")}
    missing = [str(c)[:8] for c in codes if c not in by_code]
    if missing:
        raise CompareError(f"No generation (or only one in the trash) with the code {', '.join(missing)}.")
    return [by_code[c] for c in codes]


def ids_param(generations: list[Generation]) -> str:
    return ",".join(str(g.code) for g in generations)


def compare_url(generations: list[Generation]) -> str:
    return f"{reverse('compare')}?ids={ids_param(generations)}"


@dataclass(frozen=True)
class InputRow:
    label: str
    values: list[Any]
    differs: bool


# (label, the value compared, whether a difference is highlighted). "Created" is shown but
# never highlighted: it differs for every pair and is not an input of the model.
INPUTS: list[tuple[str, Callable[[Generation], Any], bool]] = [
    ("Prompt", lambda g: g.prompt_text, True),
    ("Aspect ratio", lambda g: g.aspect_ratio, True),
    ("Resolution", lambda g: g.resolution, True),
    ("Duration", lambda g: f"{g.duration} s", True),
    ("Camera fixed", lambda g: "yes" if g.camera_fixed else "no", True),
    ("Seed requested", lambda g: "random" if g.seed is None else g.seed, True),
    ("Seed used", lambda g: "–" if g.seed_used is None else g.seed_used, True),
    ("Safety checker", lambda g: "on" if g.enable_safety_checker else "off", True),
    ("Source image", lambda g: g.source_image, True),
    ("Created", lambda g: g.created_at, False),
]


def input_rows(generations: list[Generation]) -> list[InputRow]:
    rows = []
    for label, value_of, compared in INPUTS:
        values = [value_of(g) for g in generations]
        # Source images compare by identity (two uploads are never the same row).
        keys = [g.source_image_id for g in generations] if label == "Source image" else values
        rows.append(InputRow(label, values, compared and len(set(keys)) > 1))
    return rows


def mark_pick(generations: list[Generation], pick: Generation) -> None:
    """Make `pick` the only pick among `generations`, in one transaction.

    The rows are locked in primary-key order first, so two people picking different
    videos of overlapping comparisons queue up instead of deadlocking or leaving two picks.
    """
    pks = sorted(g.pk for g in generations)
    with transaction.atomic():
        list(Generation.objects.select_for_update().filter(pk__in=pks).order_by("pk").values_list("pk", flat=True))
        Generation.objects.filter(pk__in=pks).exclude(pk=pick.pk).update(is_pick=False)
        Generation.objects.filter(pk=pick.pk).update(is_pick=True)


# --- Compare views -----------------------------------------------------------------


def _compare_error(request: HttpRequest, error: CompareError) -> HttpResponse:
    context = {"error": str(error), "min": MIN_COMPARED, "max": MAX_COMPARED}
    return render(request, "gallery/compare.html", context, status=400)


@viewer_required
def compare(request: HttpRequest) -> HttpResponse:
    try:
        generations = compared_generations(parse_codes(request.GET.get("ids", "")))
    except CompareError as exc:
        return _compare_error(request, exc)
    context = {"generations": generations, "rows": input_rows(generations), "ids": ids_param(generations)}
    return render(request, "gallery/compare.html", context)


@viewer_required
@require_POST
def compare_pick(request: HttpRequest) -> HttpResponse:
    """Curation, not spending: any team member who may view the videos may choose the pick."""
    try:
        generations = compared_generations(parse_codes(request.POST.get("ids", "")))
        pick = next(g for g in generations if str(g.code) == request.POST.get("pick", "").strip().lower())
    except CompareError as exc:
        return _compare_error(request, exc)
    except StopIteration:
        return _compare_error(request, CompareError("The pick must be one of the generations being compared."))
    if pick.status != Generation.Status.COMPLETED:
        messages.error(request, "Only a completed video can be the pick.")
    else:
        mark_pick(generations, pick)
        logger.info("%s marked %s as the pick among %s", request.user, pick.code, ids_param(generations))
        messages.success(request, f"Generation {str(pick.code)[:8]} is now the pick of these {len(generations)}.")
    return redirect(compare_url(generations))


@viewer_required
def compare_variations(request: HttpRequest, code) -> HttpResponse:
    """This generation and up to three others of the same source image and prompt text
    (completed ones, newest first), on the compare page."""
    generation = Generation.objects.filter(code=code, trashed_at__isnull=True).first()
    if generation is None:
        raise Http404("No generation with this code.")
    others = list(
        Generation.objects.filter(
            source_image_id=generation.source_image_id,
            prompt_text=generation.prompt_text,
            status=Generation.Status.COMPLETED,
            trashed_at__isnull=True,
        )
        .exclude(pk=generation.pk)
        .only("pk", "code", "created_at")
        .order_by("-created_at", "-id")[: MAX_COMPARED - 1]
    )
    if not others:
        messages.info(request, "There are no other completed videos of this image and prompt to compare it with.")
        return redirect("generation-detail", code=generation.code)
    chosen = sorted([generation, *others], key=lambda g: (g.created_at, g.pk), reverse=True)
    return redirect(compare_url(chosen))


# --- Trash views -------------------------------------------------------------------


@permissions.trash_required
def trash_index(request: HttpRequest) -> HttpResponse:
    trashed = (
        Generation.objects.filter(trashed_at__isnull=False)
        .select_related("source_image", "trashed_by")
        .defer("fal_logs")
        .order_by("-trashed_at", "-id")
    )
    page = Paginator(trashed, TRASH_PAGE_SIZE).get_page(request.GET.get("page"))
    items = [(g, trash.expiry(g.trashed_at)) for g in page.object_list]
    context = {"page": page, "items": items, "retention_days": settings.TRASH_RETENTION_DAYS}
    return render(request, "gallery/trash.html", context)


def _codes(values: list[str]) -> list[uuid.UUID]:
    codes = []
    for value in values:
        try:
            codes.append(uuid.UUID(value.strip()))
        except ValueError:
            continue
    return codes


@permissions.trash_required
@require_POST
def trash_restore(request: HttpRequest) -> HttpResponse:
    """Restore the one whose button was pressed ("restore"), or else the ticked ones ("selected")."""
    one = request.POST.get("restore")
    codes = _codes([one] if one else request.POST.getlist("selected"))
    if not codes:
        messages.error(request, "Nothing restored: tick the videos to restore first.")
        return redirect("trash")
    chosen = list(Generation.objects.filter(code__in=codes, trashed_at__isnull=False).only("pk", "code"))
    if not all(permissions.can_restore(request.user, g) for g in chosen):
        raise PermissionDenied("Only generators may restore videos from the trash.")
    restored = trash.restore(chosen)
    messages.success(request, f"Restored {restored} video{'' if restored == 1 else 's'} to the gallery.")
    return redirect("trash")


@permissions.trash_required
@require_POST
def generation_trash(request: HttpRequest, code) -> HttpResponse:
    generation = Generation.objects.defer("fal_logs").filter(code=code).first()
    if generation is None:
        raise Http404("No generation with this code.")
    if not permissions.can_trash(request.user, generation):
        raise PermissionDenied("Only generators may move videos to the trash.")
    report = trash.move_to_trash([generation], user=request.user)
    short = str(generation.code)[:8]
    if report.moved:
        messages.success(
            request,
            f"Generation {short} moved to the trash; it can be restored for {settings.TRASH_RETENTION_DAYS} days.",
        )
    else:
        messages.error(request, f"Generation {short} was not moved to the trash: {report.skipped[0][1]}.")
    return redirect("gallery")
