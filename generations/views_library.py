"""The library's pages and actions: favourites, rating, tags, collections, bulk actions, exports.

Who may do what is decided in generations/permissions.py: viewers favourite, rate, tag,
create collections and add to them (curation spends and removes nothing); moving to the
trash needs the generator role; renaming, describing, emptying or deleting a collection
needs its owner or a collection keeper. Every mutation is a POST with a CSRF token and
redirects back (to a same-host `next`) with a message.

This module also serves `/` and `/generations/<code>/`: they are views.gallery_index and
views.generation_detail plus the library's filters and controls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import CharField, Count, Exists, OuterRef, Value
from django.db.models.functions import Cast, Substr
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import gallery, library, permissions, trash
from .exports import export_of_collection, export_of_gallery
from .forms import CollectionForm, GalleryFilterForm
from .library_limits import collection_create_refusal
from .models import COLLECTION_DESCRIPTION_MAX, Collection, CollectionItem, Favourite, Generation, Tag
from .views import _page_args, _query_without_cursor, viewer_required
from .views_exports import export_answer


class LibraryFilterForm(GalleryFilterForm):
    """The gallery's filter bar with the library's filters and the best-rated-first sort."""

    favourites = forms.BooleanField(required=False, label="My favourites")
    tag = forms.CharField(required=False, max_length=library.TAG_NAME_MAX)
    rating = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="Rating",
        choices=[("", "Any"), *[(n, f"{n}★ or more") for n in range(1, 6)]],
    )
    picks = forms.BooleanField(required=False, label="Picks")
    collection = forms.UUIDField(required=False, widget=forms.HiddenInput)
    sort = forms.ChoiceField(
        required=False,
        choices=[(gallery.NEWEST, "Newest first"), (gallery.OLDEST, "Oldest first"), (gallery.RATING, "Best rated")],
    )


def _filters(request: HttpRequest, data: dict) -> gallery.Filters:
    filters = gallery.Filters.from_cleaned(data)
    if data.get("favourites"):
        filters = gallery.Filters(**{**filters.__dict__, "favourites_of": request.user.pk})
    return filters


def _generation(code) -> Generation:
    generation = gallery.generation_by_code(code)
    if generation is None:
        raise Http404("No generation with this code.")
    return generation


def _collection(code) -> Collection:
    collection = Collection.objects.select_related("owner").filter(code=code).first()
    if collection is None:
        raise Http404("No collection with this code.")
    return collection


def _back(request: HttpRequest, fallback: str, *args, **kwargs) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(fallback, *args, **kwargs)


def _errors(request: HttpRequest, exc: ValidationError, prefix: str) -> None:
    messages.error(request, f"{prefix}: {' '.join(exc.messages)}")


def _mark_favourites(request: HttpRequest, generations: list[Generation]) -> None:
    starred = library.favourite_ids(user=request.user, generations=generations)
    for g in generations:
        g.is_favourite = g.pk in starred


def _collections_for_select():
    return Collection.objects.only("code", "name").order_by("name", "id")


# --- The gallery and a generation's page --------------------------------------------


@viewer_required
def gallery_index(request: HttpRequest) -> HttpResponse:
    form = LibraryFilterForm(request.GET)
    data = form.valid_data()
    filters = _filters(request, data)
    # The star on each card comes with the page's one query (an EXISTS per row).
    queryset = gallery.filter_generations(gallery.card_queryset(), filters).annotate(
        is_favourite=_starred_by(request.user)
    )
    order = data.get("sort") or gallery.NEWEST
    if order == gallery.RATING:
        page = gallery.rating_page(queryset, **_page_args(request))
    else:
        page = gallery.keyset_page(queryset, order=order, **_page_args(request))
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "query": _query_without_cursor(request),
        "filtered": filters != gallery.Filters(),
        "selectable": True,
        "curate": True,
        "collections": _collections_for_select(),
        "can_trash": permissions.can_trash(request.user),
        "bulk_max": library.BULK_MAX,
        "export_query": _query_without_cursor(request),
    }
    if filters.collection:
        context["filter_collection"] = Collection.objects.filter(code=filters.collection).first()
    return render(request, "gallery/index.html", context)


@viewer_required
def generation_detail(request: HttpRequest, code) -> HttpResponse:
    # gallery.generation_for_detail's query, with this user's star on it.
    generation = (
        Generation.objects.select_related("source_image", "prompt", "batch", "requested_by", "retry_of")
        .annotate(is_favourite=_starred_by(request.user))
        .filter(code=code)
        .first()
    )
    if generation is None or not permissions.can_see_generation(request.user, generation):
        raise Http404("No generation with this code.")  # in the trash: gone, for a viewer
    tags, collections = _tags_and_collections(generation)
    context = {
        "generation": generation,
        "inputs": gallery.model_inputs(generation),
        "timings": gallery.timings(generation),
        "total_time": gallery.total_time(generation),
        "logs": gallery.log_lines(generation),
        "neighbours": gallery.neighbours(generation),
        "can_generate": permissions.can_generate(request.user),
        "can_trash": permissions.can_trash(request.user, generation),
        "can_restore": generation.trashed_at is not None and permissions.can_restore(request.user, generation),
        "purged_after": trash.expiry(generation.trashed_at) if generation.trashed_at else None,
        "library": True,
        "tags": [t for t in tags if t.on],
        "all_tags": [t.name for t in tags],
        "in_collections": [c for c in collections if c.on],
        "collections": collections,
    }
    return render(request, "gallery/detail.html", context)


def _starred_by(user) -> Exists:
    return Exists(Favourite.objects.filter(user=user.pk, generation=OuterRef("pk")))


@dataclass(frozen=True)
class _Label:
    name: str
    code: uuid.UUID | None
    on: bool  # this video has the tag / is in the collection


def _tags_and_collections(generation: Generation) -> tuple[list[_Label], list[_Label]]:
    """Every tag and every collection, each marked whether this video has it, in one UNION
    query: the generation page keeps a fixed, small query budget (tests/gallery counts it)."""
    text = CharField()
    tags = (
        Tag.objects.annotate(
            kind=Value("tag", output_field=text),
            ref=Value("", output_field=text),
            on=Exists(Generation.tags.through.objects.filter(tag=OuterRef("pk"), generation=generation)),
        )
        .order_by()
        .values_list("kind", "name", "ref", "on")
    )
    collections = (
        Collection.objects.annotate(
            kind=Value("collection", output_field=text),
            ref=Cast("code", output_field=text),
            on=Exists(CollectionItem.objects.filter(collection=OuterRef("pk"), generation=generation)),
        )
        .order_by()
        .values_list("kind", "name", "ref", "on")
    )
    found: dict[str, list[_Label]] = {"tag": [], "collection": []}
    for kind, name, ref, on in tags.union(collections, all=True):
        found[kind].append(_Label(name=name, code=uuid.UUID(ref) if ref else None, on=bool(on)))
    for labels in found.values():
        labels.sort(key=lambda label: (label.name.casefold(), str(label.code)))
    return found["tag"], found["collection"]


# --- One video: favourite, rate, tag, collect ------------------------------------------


@viewer_required
@require_POST
def generation_favourite(request: HttpRequest, code) -> HttpResponse:
    generation = _generation(code)
    on = request.POST.get("favourite", "1") != "0"
    library.favourite_set(user=request.user, generation=generation, on=on)
    messages.success(request, "Added to your favourites." if on else "Removed from your favourites.")
    return _back(request, "generation-detail", code=generation.code)


@viewer_required
@require_POST
def generation_rate(request: HttpRequest, code) -> HttpResponse:
    generation = _generation(code)
    value = request.POST.get("rating", "").strip()
    try:
        rating = int(value) if value else None
        library.generation_rate(generation=generation, rating=rating)
    except ValueError:
        messages.error(request, "Not rated: a rating is 1 to 5 stars.")
    except ValidationError as exc:
        _errors(request, exc, "Not rated")
    else:
        messages.success(request, f"Rated {rating}★." if rating else "Rating cleared.")
    return _back(request, "generation-detail", code=generation.code)


@viewer_required
@require_POST
def generation_tag(request: HttpRequest, code) -> HttpResponse:
    generation = _generation(code)
    try:
        tag, added = library.generations_tag(generations=[generation], name=request.POST.get("name", ""))
    except ValidationError as exc:
        _errors(request, exc, "Not tagged")
    else:
        messages.success(request, f"Tagged “{tag.name}”." if added else f"Already tagged “{tag.name}”.")
    return _back(request, "generation-detail", code=generation.code)


@viewer_required
@require_POST
def generation_untag(request: HttpRequest, code) -> HttpResponse:
    generation = _generation(code)
    name = request.POST.get("name", "")
    if library.generation_untag(generation=generation, name=name):
        messages.success(request, f"Removed the tag “{name}”.")
    return _back(request, "generation-detail", code=generation.code)


class _Refused(Exception):
    """A limit said no: `response` is its page (429), sent instead of the view's answer."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _target_collection(request: HttpRequest) -> Collection:
    """The collection a form chose: an existing one by code, else the one called by the new
    name typed, else a new one (which counts against COLLECTION_CREATE_LIMIT: _Refused)."""
    new_name = request.POST.get("new_collection", "").strip()
    if new_name:
        collection = library.collection_by_name(new_name)
        if collection is None:
            if not permissions.can_create_collection(request.user):
                raise PermissionDenied("Creating a collection needs the viewer role.")
            if refusal := collection_create_refusal(request):
                raise _Refused(refusal)
            collection = library.collection_create(name=new_name, owner=request.user)
    else:
        code = request.POST.get("collection", "")
        try:
            collection = Collection.objects.filter(code=code).first() if code else None
        except ValidationError:  # not a UUID
            collection = None
        if collection is None:
            raise ValidationError("Choose a collection or type a new name.")
    if not permissions.can_add_to_collection(request.user, collection):
        raise PermissionDenied("You may not add videos to this collection.")
    return collection


@viewer_required
@require_POST
def generation_collect(request: HttpRequest, code) -> HttpResponse:
    generation = _generation(code)
    try:
        collection = _target_collection(request)
    except ValidationError as exc:
        _errors(request, exc, "Not added")
        return _back(request, "generation-detail", code=generation.code)
    except _Refused as refused:
        return refused.response
    added = library.collection_add(collection=collection, generations=[generation], user=request.user)
    messages.success(request, f"{'Added to' if added else 'Already in'} “{collection.name}”.")
    return _back(request, "generation-detail", code=generation.code)


# --- Tags and collections ------------------------------------------------------------

# Both lists are pages of a fixed size, and each page costs a fixed number of queries: the
# page, then the counts of visible videos for its rows only (not a GROUP BY over every row).
COLLECTIONS_PAGE_SIZE = 50
TAGS_PAGE_SIZE = 200
DESCRIPTION_PREVIEW = 120  # characters of a description on /collections/, cut in SQL


@viewer_required
def tag_index(request: HttpRequest) -> HttpResponse:
    page = Paginator(Tag.objects.order_by("name", "id"), TAGS_PAGE_SIZE).get_page(request.GET.get("page"))
    tags = list(page.object_list)
    counts = dict(
        Generation.tags.through.objects.filter(tag__in=tags, generation__trashed_at__isnull=True)
        .values("tag")
        .annotate(n=Count("id"))
        .values_list("tag", "n")
    )
    for tag in tags:
        tag.count = counts.get(tag.pk, 0)
    return render(request, "gallery/collections_tags.html", {"tags": tags, "page": page})


@viewer_required
def collection_index(request: HttpRequest) -> HttpResponse:
    # The description is never read whole here: its start is cut in SQL.
    rows = (
        Collection.objects.select_related("owner")
        .defer("description")
        .annotate(description_start=Substr("description", 1, DESCRIPTION_PREVIEW + 1))
        .order_by("name", "id")
    )
    page = Paginator(rows, COLLECTIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    collections = list(page.object_list)
    counts = dict(
        CollectionItem.objects.filter(collection__in=collections, generation__trashed_at__isnull=True)
        .values("collection")
        .annotate(n=Count("id"))
        .values_list("collection", "n")
    )
    for collection in collections:
        collection.count = counts.get(collection.pk, 0)
    context = {
        "collections": collections,
        "page": page,
        "form": CollectionForm(),
        "preview_chars": DESCRIPTION_PREVIEW,
    }
    return render(request, "gallery/collections.html", context)


@viewer_required
@require_POST
def collection_create(request: HttpRequest) -> HttpResponse:
    if not permissions.can_create_collection(request.user):
        raise PermissionDenied("Creating a collection needs the viewer role.")
    form = CollectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not created: {form.error_text()}")
        return redirect("collections")
    if refusal := collection_create_refusal(request):
        return refusal
    try:
        collection = library.collection_create(
            name=form.cleaned_data["name"], description=form.cleaned_data["description"], owner=request.user
        )
    except ValidationError as exc:
        _errors(request, exc, "Not created")
        return redirect("collections")
    messages.success(request, f"Created “{collection.name}”.")
    return redirect("collection-detail", code=collection.code)


def collection_items(collection: Collection) -> list[CollectionItem]:
    """The collection's visible videos in the order they were added (one query)."""
    return list(
        collection.items.filter(generation__trashed_at__isnull=True)
        .select_related("generation__source_image")
        .defer("generation__fal_logs")
        .order_by("added_at", "id")
    )


@viewer_required
def collection_detail(request: HttpRequest, code) -> HttpResponse:
    collection = _collection(code)
    items = collection_items(collection)
    _mark_favourites(request, [item.generation for item in items])
    can_edit = permissions.can_edit_collection(request.user, collection)
    context = {
        "collection": collection,
        "items": items,
        "curate": True,
        "can_edit": can_edit,
        "can_delete": permissions.can_delete_collection(request.user, collection),
        "remove_from": collection if can_edit else None,
        "description_max": COLLECTION_DESCRIPTION_MAX,
    }
    return render(request, "gallery/collections_detail.html", context)


def _editable_collection(request: HttpRequest, code, *, rule=permissions.can_edit_collection) -> Collection:
    collection = _collection(code)
    if not rule(request.user, collection):
        raise PermissionDenied(
            "Only the collection's owner (or someone allowed to change every collection) may change or delete it."
        )
    return collection


@viewer_required
@require_POST
def collection_edit(request: HttpRequest, code) -> HttpResponse:
    collection = _editable_collection(request, code)
    form = CollectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not saved: {form.error_text()}")
        return redirect("collection-detail", code=collection.code)
    try:
        library.collection_update(
            collection=collection,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            user=request.user,
        )
    except ValidationError as exc:
        _errors(request, exc, "Not saved")
    else:
        messages.success(request, "Saved.")
    return redirect("collection-detail", code=collection.code)


@viewer_required
@require_POST
def collection_remove(request: HttpRequest, code) -> HttpResponse:
    collection = _editable_collection(request, code)
    try:
        generation = _generation(request.POST.get("generation", ""))
    except ValidationError:
        raise Http404("No generation with this code.") from None
    if library.collection_remove(collection=collection, generation=generation, user=request.user):
        messages.success(request, f"Removed from “{collection.name}”.")
    return redirect("collection-detail", code=collection.code)


@viewer_required
@require_POST
def collection_delete(request: HttpRequest, code) -> HttpResponse:
    collection = _editable_collection(request, code, rule=permissions.can_delete_collection)
    held = library.collection_delete(collection=collection, user=request.user)
    messages.success(request, f"Deleted the collection “{collection.name}”; its {held} video(s) stay in the gallery.")
    return redirect("collections")


# --- Bulk actions on a selection ---------------------------------------------------------


@viewer_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    try:
        chosen = library.selection(request.POST.getlist("codes"))
    except library.SelectionTooLarge as exc:
        _errors(request, exc, "Nothing done")
        return _back(request, "gallery")
    if not chosen:
        messages.error(request, "Select at least one video first.")
        return _back(request, "gallery")
    handler = BULK_ACTIONS.get(action)
    if handler is None:
        messages.error(request, "Choose what to do with the selection.")
        return _back(request, "gallery")
    return handler(request, chosen)


def _bulk_favourite(request: HttpRequest, chosen: list[Generation]) -> HttpResponse:
    added = library.favourites_bulk_add(user=request.user, generations=chosen)
    messages.success(request, f"Starred {added} video(s); {len(chosen) - added} already were.")
    return _back(request, "gallery")


def _bulk_tag(request: HttpRequest, chosen: list[Generation]) -> HttpResponse:
    try:
        tag, added = library.generations_tag(generations=chosen, name=request.POST.get("tag", ""))
    except ValidationError as exc:
        _errors(request, exc, "Not tagged")
    else:
        messages.success(request, f"Tagged {added} video(s) “{tag.name}”; {len(chosen) - added} already were.")
    return _back(request, "gallery")


def _bulk_collect(request: HttpRequest, chosen: list[Generation]) -> HttpResponse:
    try:
        collection = _target_collection(request)
    except ValidationError as exc:
        _errors(request, exc, "Not added")
        return _back(request, "gallery")
    except _Refused as refused:
        return refused.response
    added = library.collection_add(collection=collection, generations=chosen, user=request.user)
    messages.success(request, f"Added {added} video(s) to “{collection.name}”; {len(chosen) - added} already were.")
    return _back(request, "gallery")


def _bulk_trash(request: HttpRequest, chosen: list[Generation]) -> HttpResponse:
    if not all(permissions.can_trash(request.user, g) for g in chosen):
        raise PermissionDenied("Moving to the trash needs the generator role (staff status alone does not).")
    report = library.generations_trash(generations=chosen, user=request.user)
    if report.moved:
        messages.success(request, f"Moved {len(report.moved)} video(s) to the trash.")
    for generation, reason in report.skipped:
        messages.warning(request, f"Skipped {str(generation.code)[:8]}: {reason}.")
    return _back(request, "gallery")


def _bulk_zip(request: HttpRequest, chosen: list[Generation]) -> HttpResponse:
    plan = library.zip_plan(chosen)
    if not plan.included:
        messages.error(request, "No ZIP: none of the selected videos is finished and archived.")
        return _back(request, "gallery")
    library.zip_record_download(plan=plan, user=request.user)
    response = StreamingHttpResponse(library.zip_stream(plan), content_type="application/zip")
    name = f"seedance-{date.today():%Y%m%d}-{len(plan.included)}-videos.zip"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


BULK_ACTIONS = {
    "favourite": _bulk_favourite,
    "tag": _bulk_tag,
    "collection": _bulk_collect,
    "trash": _bulk_trash,
    "zip": _bulk_zip,
}


# --- Manifests ------------------------------------------------------------------------


@viewer_required
def gallery_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The filtered gallery view (every page of it), in the gallery's order; a large one is
    written in the background (views_exports.export_answer)."""
    data = LibraryFilterForm(request.GET).valid_data()
    export = export_of_gallery(
        filters=_filters(request, data),
        order=data.get("sort") or gallery.NEWEST,
        fmt=fmt,
        query_string=_query_without_cursor(request),
    )
    return export_answer(request, export)


@viewer_required
def collection_export(request: HttpRequest, code, fmt: str) -> HttpResponse:
    """The collection's visible videos in the order they were added (large: in the background)."""
    return export_answer(request, export_of_collection(collection=_collection(code), fmt=fmt))
