"""Read-side selectors for the team's gallery pages (/, /generations/…, /images/, /prompts/).

Lists are paginated by keyset (a cursor on (created_at, id)), never by OFFSET, so page 1000
costs what page 1 costs: the query walks the `gen_created_id` index ((-created_at, -id)) from
the cursor, or `gen_status_created` when a status is chosen. Every list is one query (plus
the related rows it joins), whatever the page size or the number of rows.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .dashboard import format_duration
from .models import Generation, Prompt, SourceImage
from .validators import parse_id

PAGE_SIZE = 24
NEIGHBOURS = 4
STATUS_FEED_MAX = 100
NEWEST, OLDEST = "newest", "oldest"
# Best rated first (unrated last), newest first among equals: see rating_page.
RATING = "rating"


# --- Cursors and keyset pages ------------------------------------------------------


def encode_cursor(created_at: datetime, pk: int) -> str:
    raw = f"{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# A cursor is base64 of "<created_at ISO>|<id>" (or "r<rating>|<created_at ISO>|<id>" for the
# best-rated order): under 90 characters. Anything longer is not one of ours.
CURSOR_MAX_CHARS = 120
RATING_KEYS = range(0, 6)  # Coalesce(rating, 0): 0 for unrated, else 1–5


class InvalidCursor(ValueError):
    """A page cursor that is not one this app wrote (edited, cut short, or out of range)."""


@dataclass(frozen=True)
class Cursor:
    created_at: datetime  # in UTC
    pk: int
    rating_key: int | None = None  # set in a best-rated-order cursor only


def parse_cursor(value: str) -> Cursor:
    """The one reader of page cursors: bounds the length, the shape, the date (it must be a
    moment with a time zone that UTC can hold: a year-1 or year-9999 date shifted by its offset
    overflows Python's datetime and SQLite's) and the id (validators.parse_id). Raises
    InvalidCursor saying what is wrong."""
    if len(value) > CURSOR_MAX_CHARS:
        raise InvalidCursor(f"it is {len(value)} characters long; a page link's cursor is at most {CURSOR_MAX_CHARS}")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("it is not a cursor this site wrote (it cannot be decoded)") from None
    parts = raw.split("|")
    rating_key = None
    if len(parts) == 3 and parts[0].startswith("r"):
        rating_text = parts.pop(0)[1:]
        if not (rating_text.isascii() and rating_text.isdigit() and int(rating_text) in RATING_KEYS):
            raise InvalidCursor("its rating is not 0 to 5")
        rating_key = int(rating_text)
    if len(parts) != 2:
        raise InvalidCursor("it is not a cursor this site wrote (it has the wrong shape)")
    stamp, pk = parts
    try:
        created_at = parse_datetime(stamp)
    except ValueError:  # well-formed but impossible, e.g. month 13
        created_at = None
    if created_at is None or timezone.is_naive(created_at):
        raise InvalidCursor("its date is not a date and time with a time zone")
    try:
        created_at = created_at.astimezone(UTC)
    except OverflowError:
        raise InvalidCursor("its date is out of range") from None
    try:
        pk_value = parse_id(pk, what="a row id")
    except ValidationError:
        raise InvalidCursor("its row id is not a whole number from 1 to 2^63 - 1") from None
    return Cursor(created_at=created_at, pk=pk_value, rating_key=rating_key)


def decode_cursor(value: str | None) -> tuple[datetime, int] | None:
    """The (created_at, id) inside a cursor; None for a missing or tampered one (then: page 1).
    The views refuse a tampered one before it gets here (views._page_args)."""
    if not value:
        return None
    try:
        cursor = parse_cursor(value)
    except InvalidCursor:
        return None
    if cursor.rating_key is not None:
        return None
    return cursor.created_at, cursor.pk


@dataclass
class Page:
    items: list
    next_cursor: str | None = None  # further in the chosen order ("Next", i.e. older when newest first)
    prev_cursor: str | None = None  # back towards the start ("Newer" when newest first)


def _beyond(cursor: tuple[datetime, int], *, descending: bool) -> Q:
    # (created_at, id) < (x, y), written as created_at <= x AND (created_at < x OR id < y):
    # the first term is a range the (created_at, id) index starts the scan at (the cursor),
    # the second only drops the rows tied on created_at. (A bare OR is no index condition:
    # the scan would start at the newest row and filter out every earlier page's rows.)
    created_at, pk = cursor
    if descending:
        return Q(created_at__lte=created_at) & (Q(created_at__lt=created_at) | Q(id__lt=pk))
    return Q(created_at__gte=created_at) & (Q(created_at__gt=created_at) | Q(id__gt=pk))


def keyset_page(
    queryset: QuerySet,
    *,
    order: str = NEWEST,
    after: str | None = None,
    before: str | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of `queryset` (rows with created_at and id) in `order`.

    `after`: the rows following that cursor; `before`: the rows preceding it (the previous
    page). Without either, the first page. A cursor that cannot be read counts as absent.
    """
    descending = order != OLDEST
    keys = ("-created_at", "-id") if descending else ("created_at", "id")
    reverse_keys = tuple(k[1:] if k.startswith("-") else f"-{k}" for k in keys)
    back = decode_cursor(before)
    forward = decode_cursor(after) if back is None else None

    if back is not None:
        rows = list(queryset.filter(_beyond(back, descending=not descending)).order_by(*reverse_keys)[: size + 1])
        more_before = len(rows) > size
        items = rows[:size][::-1]
        return Page(
            items=items,
            next_cursor=_cursor_of(items[-1]) if items else after,
            prev_cursor=_cursor_of(items[0]) if items and more_before else None,
        )
    if forward is not None:
        queryset = queryset.filter(_beyond(forward, descending=descending))
    rows = list(queryset.order_by(*keys)[: size + 1])
    items = rows[:size]
    return Page(
        items=items,
        next_cursor=_cursor_of(items[-1]) if len(rows) > size else None,
        prev_cursor=_cursor_of(items[0]) if forward is not None and items else None,
    )


def _cursor_of(obj: Any) -> str:
    return encode_cursor(obj.created_at, obj.pk)


# --- Gallery filters ---------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    status: str = ""
    image: uuid.UUID | None = None
    prompt: uuid.UUID | None = None
    q: str = ""
    resolution: str = ""
    aspect_ratio: str = ""
    duration: int | None = None
    batch: uuid.UUID | None = None
    user: str = ""
    date_from: date | None = None
    date_to: date | None = None
    # The library's filters: one person's favourites (a user id: "mine" is the view's
    # business), a tag name (ignoring case), a collection, a minimum rating, picks only.
    favourites_of: int | None = None
    tag: str = ""
    collection: uuid.UUID | None = None
    rating: int | None = None
    picks: bool = False

    @classmethod
    def from_cleaned(cls, data: dict) -> Filters:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names and v not in (None, "")})


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def search_prompt_text(queryset: QuerySet, text: str) -> QuerySet:
    """Full-text search (English stemming) on PostgreSQL, a substring match elsewhere."""
    if connection.vendor == "postgresql":
        # The classes work without django.contrib.postgres in INSTALLED_APPS.
        from django.contrib.postgres.search import SearchQuery, SearchVector

        return queryset.alias(prompt_search=SearchVector("prompt_text", config="english")).filter(
            prompt_search=SearchQuery(text, config="english", search_type="websearch")
        )
    return queryset.filter(prompt_text__icontains=text)


def filter_generations(queryset: QuerySet, filters: Filters) -> QuerySet:
    f = filters
    exact = {
        "status": f.status,
        "source_image__code": f.image,
        "prompt__code": f.prompt,
        "resolution": f.resolution,
        "aspect_ratio": f.aspect_ratio,
        "duration": f.duration,
        "batch__code": f.batch,
        "requested_by__username": f.user,
    }
    queryset = queryset.filter(**{k: v for k, v in exact.items() if v not in (None, "")})
    if f.date_from:
        queryset = queryset.filter(created_at__gte=_start_of(f.date_from))
    if f.date_to:
        queryset = queryset.filter(created_at__lt=_start_of(f.date_to + timedelta(days=1)))
    if f.q:
        queryset = search_prompt_text(queryset, f.q)
    # Each of these joins a table unique on (its key, generation), so no row repeats.
    if f.favourites_of:
        queryset = queryset.filter(favourites__user_id=f.favourites_of)
    if f.tag:
        queryset = queryset.filter(tags__name__iexact=f.tag.strip())
    if f.collection:
        queryset = queryset.filter(collection_items__collection__code=f.collection)
    if f.rating:
        queryset = queryset.filter(rating__gte=f.rating)
    if f.picks:
        queryset = queryset.filter(is_pick=True)
    return queryset


def card_queryset() -> QuerySet:
    """What a generation card shows, in one query: the row (without its logs) and its image.
    Trashed generations are not shown (the trash page lists them)."""
    return Generation.objects.filter(trashed_at__isnull=True).select_related("source_image").defer("fal_logs")


def generation_page(
    filters: Filters, *, order: str = NEWEST, after: str | None = None, before: str | None = None, size=PAGE_SIZE
) -> Page:
    queryset = filter_generations(card_queryset(), filters)
    if order == RATING:
        return rating_page(queryset, after=after, before=before, size=size)
    return keyset_page(queryset, order=order, after=after, before=before, size=size)


# --- Sorting by rating -------------------------------------------------------------
# Keyset on (rating, created_at, id), all descending, with unrated rows last: the rating is
# read as Coalesce(rating, 0) (ratings are 1–5), so NULLs need no special case in the
# comparisons and both databases order them the same way. No index serves this order (a
# sort of the filtered rows per page); the team's library is thousands of rows, not millions.


def _encode_rating_cursor(rating_key: int, created_at: datetime, pk: int) -> str:
    raw = f"r{rating_key}|{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_rating_cursor(value: str | None) -> tuple[int, datetime, int] | None:
    """The (rating or 0, created_at, id) inside a rating cursor; None when absent or unreadable."""
    if not value:
        return None
    try:
        cursor = parse_cursor(value)
    except InvalidCursor:
        return None
    if cursor.rating_key is None:
        return None
    return cursor.rating_key, cursor.created_at, cursor.pk


def _rating_beyond(cursor: tuple[int, datetime, int], *, descending: bool) -> Q:
    rating_key, created_at, pk = cursor
    op = "lt" if descending else "gt"
    return (
        Q(**{f"rating_key__{op}": rating_key})
        | Q(rating_key=rating_key, **{f"created_at__{op}": created_at})
        | Q(rating_key=rating_key, created_at=created_at, **{f"id__{op}": pk})
    )


def _rating_cursor_of(obj: Any) -> str:
    return _encode_rating_cursor(obj.rating_key, obj.created_at, obj.pk)


def rating_page(
    queryset: QuerySet, *, after: str | None = None, before: str | None = None, size: int = PAGE_SIZE
) -> Page:
    """keyset_page's twin for the best-rated-first order (same cursor semantics)."""
    queryset = queryset.annotate(rating_key=Coalesce("rating", 0))
    keys, reverse_keys = ("-rating_key", "-created_at", "-id"), ("rating_key", "created_at", "id")
    back = _decode_rating_cursor(before)
    forward = _decode_rating_cursor(after) if back is None else None
    if back is not None:
        rows = list(queryset.filter(_rating_beyond(back, descending=False)).order_by(*reverse_keys)[: size + 1])
        items = rows[:size][::-1]
        return Page(
            items=items,
            next_cursor=_rating_cursor_of(items[-1]) if items else after,
            prev_cursor=_rating_cursor_of(items[0]) if items and len(rows) > size else None,
        )
    if forward is not None:
        queryset = queryset.filter(_rating_beyond(forward, descending=True))
    rows = list(queryset.order_by(*keys)[: size + 1])
    items = rows[:size]
    return Page(
        items=items,
        next_cursor=_rating_cursor_of(items[-1]) if len(rows) > size else None,
        prev_cursor=_rating_cursor_of(items[0]) if forward is not None and items else None,
    )


def ordered_for_export(queryset: QuerySet, order: str = NEWEST) -> QuerySet:
    """The same rows in the gallery's order, for a manifest of the whole filtered view."""
    if order == RATING:
        return queryset.annotate(rating_key=Coalesce("rating", 0)).order_by("-rating_key", "-created_at", "-id")
    return queryset.order_by("created_at", "id") if order == OLDEST else queryset.order_by("-created_at", "-id")


# --- One generation ----------------------------------------------------------------


def generation_for_detail(code: uuid.UUID) -> Generation | None:
    return (
        Generation.objects.select_related("source_image", "prompt", "batch", "requested_by", "retry_of")
        .filter(code=code)
        .first()
    )


def generation_by_code(code: uuid.UUID) -> Generation | None:
    return Generation.objects.defer("fal_logs").filter(code=code).first()


# A stored video or poster is named after its generation's code (models.generation_video_upload_to),
# perhaps with the storage's "_abc1234" suffix: "generations/2026/03/<code>.mp4".
_CODE_AT_START = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def generation_of_file(name: str) -> Generation | None:
    """The generation whose video or poster is stored as `name`, or None (a source image, say).
    Found through the unique index on code when the file is named after it, as every one is."""
    if not name.startswith("generations/"):
        return None
    rows = Generation.objects.only("pk", "code", "trashed_at", "video", "poster").filter(Q(video=name) | Q(poster=name))
    match = _CODE_AT_START.match(name.rsplit("/", 1)[-1])
    if match:
        rows = rows.filter(code=match[0])
    return rows.first()


def model_inputs(generation: Generation) -> dict:
    """The settings a teammate can copy to make the same video (the seed fal used, if known)."""
    return {
        "prompt": generation.prompt_text,
        "aspect_ratio": generation.aspect_ratio,
        "resolution": generation.resolution,
        "duration": generation.duration,
        "camera_fixed": generation.camera_fixed,
        "seed": generation.seed_used if generation.seed_used is not None else generation.seed,
        "enable_safety_checker": generation.enable_safety_checker,
        "source_image": str(generation.source_image.code),
    }


@dataclass(frozen=True)
class Timing:
    label: str
    at: datetime | None
    took: str = ""  # time since the previous step


def timings(generation: Generation) -> list[Timing]:
    g = generation
    steps = [
        ("Requested", g.created_at),
        ("Submitted to fal", g.submitted_at),
        ("Started", g.started_at),
        ("Finished", g.finished_at),
        ("Archived", g.archived_at),
    ]
    result, previous = [], None
    for label, at in steps:
        took = format_duration(at - previous) if at and previous else ""
        result.append(Timing(label, at, took))
        previous = at or previous
    return result


def total_time(generation: Generation) -> str:
    end = generation.archived_at or generation.finished_at
    return format_duration(end - generation.created_at) if end else ""


@dataclass(frozen=True)
class LogLine:
    time: str
    level: str
    message: str


def log_lines(generation: Generation) -> list[LogLine]:
    lines = []
    for entry in generation.fal_logs or []:
        entry = entry if isinstance(entry, dict) else {"message": str(entry)}
        stamp = parse_datetime(str(entry.get("timestamp") or ""))
        shown = stamp.strftime("%H:%M:%S.%f")[:-3] if stamp else str(entry.get("timestamp") or "")
        lines.append(LogLine(shown, str(entry.get("level") or ""), str(entry.get("message") or "")))
    return lines


@dataclass
class Neighbours:
    same_image: list[Generation] = field(default_factory=list)
    same_prompt: list[Generation] = field(default_factory=list)
    same_batch: list[Generation] = field(default_factory=list)


def neighbours(generation: Generation, *, limit: int = NEIGHBOURS) -> Neighbours:
    """A few other generations of the same image, prompt and batch (one query each)."""
    visible = Generation.objects.filter(trashed_at__isnull=True)
    base = visible.exclude(pk=generation.pk).only("code", "status", "poster", "prompt_text", "created_at")

    def newest(**where) -> list[Generation]:
        return list(base.filter(**where).order_by("-created_at", "-id")[:limit])

    return Neighbours(
        same_image=newest(source_image_id=generation.source_image_id),
        same_prompt=newest(prompt_id=generation.prompt_id),
        same_batch=newest(batch_id=generation.batch_id) if generation.batch_id else [],
    )


# --- Live status -------------------------------------------------------------------


def status_feed(codes: list[str]) -> list[dict]:
    """The current status of up to STATUS_FEED_MAX generations (unknown codes are left out)."""
    valid = []
    for code in codes[:STATUS_FEED_MAX]:
        try:
            valid.append(uuid.UUID(code))
        except ValueError:
            continue
    # A trashed generation has ended (nothing to watch) and is not everyone's to see.
    rows = Generation.objects.filter(code__in=valid, trashed_at__isnull=True).only(
        "code", "status", "poster", "queue_position"
    )
    return [
        {
            "code": str(g.code),
            "status": g.status,
            "label": g.get_status_display(),
            "finished": g.is_finished,
            "queue_position": g.queue_position,
            "poster": g.poster.url if g.poster else None,
        }
        for g in rows
    ]


# --- Images and prompts ------------------------------------------------------------


def image_page(*, after: str | None = None, before: str | None = None, size: int = PAGE_SIZE) -> Page:
    queryset = SourceImage.objects.annotate(generation_count=Count("generations"))
    return keyset_page(queryset, after=after, before=before, size=size)


def image_by_code(code: uuid.UUID) -> SourceImage | None:
    return SourceImage.objects.annotate(generation_count=Count("generations")).filter(code=code).first()


def prompt_page(*, q: str = "", after: str | None = None, before: str | None = None, size: int = PAGE_SIZE) -> Page:
    queryset = Prompt.objects.annotate(use_count=Count("generations"))
    if q:
        queryset = queryset.filter(Q(text__icontains=q) | Q(title__icontains=q))
    return keyset_page(queryset, after=after, before=before, size=size)


def prompt_by_code(code: uuid.UUID) -> Prompt | None:
    return Prompt.objects.annotate(use_count=Count("generations")).filter(code=code).first()
