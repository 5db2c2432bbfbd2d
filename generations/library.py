"""Write services for the team's library: favourites, rating, tags, collections, bulk
actions, and the manifests and ZIPs that export a selection.

Organising is curation, not spending: anyone who may view the gallery may favourite,
rate, tag and collect. Who may do what is decided in generations/permissions.py (the
trash, and editing a collection, need more); these services trust their callers.
Renaming, describing, removing from and deleting a collection are audited.

Every service is idempotent where that is natural: favouriting twice is one favourite,
adding a video to a collection twice is one item (get_or_create against the unique
constraints, which are the backstop when two requests race).
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import audit, trash
from .audit import Action
from .models import COLLECTION_DESCRIPTION_MAX, Collection, CollectionItem, Favourite, Generation, Tag

# A bulk selection (and a ZIP) holds at most this many videos: a ZIP of 100 1080p videos
# is already a few GB of streaming for one request.
BULK_MAX = 100
ZIP_CHUNK = 1024 * 1024
TAG_NAME_MAX = Tag._meta.get_field("name").max_length
COLLECTION_NAME_MAX = Collection._meta.get_field("name").max_length


# --- Favourites -------------------------------------------------------------------


def favourite_set(*, user: AbstractBaseUser, generation: Generation, on: bool = True) -> bool:
    """Star (on=True) or unstar a video for `user`; doing it twice changes nothing.
    Returns whether the video is now a favourite."""
    if on:
        try:
            with transaction.atomic():
                Favourite.objects.get_or_create(user=user, generation=generation)
        except IntegrityError:  # a concurrent request starred it first: still one favourite
            pass
    else:
        Favourite.objects.filter(user=user, generation=generation).delete()
    return on


def favourites_bulk_add(*, user: AbstractBaseUser, generations: Iterable[Generation]) -> int:
    """Star every video; returns how many were not starred before."""
    generations = list(generations)
    already = set(
        Favourite.objects.filter(user=user, generation__in=generations).values_list("generation_id", flat=True)
    )
    new = [Favourite(user=user, generation=g) for g in generations if g.pk not in already]
    # ignore_conflicts: a concurrent request may star some of them in between.
    Favourite.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def favourite_ids(*, user: AbstractBaseUser, generations: Iterable[Generation]) -> set[int]:
    """The ids among `generations` that `user` has starred (one query)."""
    return set(
        Favourite.objects.filter(user=user, generation__in=list(generations)).values_list("generation_id", flat=True)
    )


# --- Rating -----------------------------------------------------------------------


def generation_rate(*, generation: Generation, rating: int | None) -> None:
    """Set the team's 1–5 rating, or clear it with None."""
    if rating is not None and not 1 <= rating <= 5:
        raise ValidationError("A rating is 1 to 5 stars.")
    Generation.objects.filter(pk=generation.pk).update(rating=rating)
    generation.rating = rating


# --- Tags -------------------------------------------------------------------------


def normalise_tag_name(name: str) -> str:
    cleaned = re.sub(r"\s+", " ", name or "").strip()
    if not cleaned:
        raise ValidationError("A tag needs a name.")
    if len(cleaned) > TAG_NAME_MAX:
        raise ValidationError(f"A tag name is at most {TAG_NAME_MAX} characters.")
    return cleaned


def tag_get_or_create(*, name: str) -> Tag:
    """The tag called `name` ignoring case (the first spelling used is kept), created on first use."""
    name = normalise_tag_name(name)
    tag = Tag.objects.filter(name__iexact=name).first()
    if tag is not None:
        return tag
    try:
        with transaction.atomic():
            return Tag.objects.create(name=name)
    except IntegrityError:  # tag_name_unique_ci: someone created it meanwhile
        return Tag.objects.get(name__iexact=name)


def generations_tag(*, generations: Iterable[Generation], name: str) -> tuple[Tag, int]:
    """Put the tag on every video (creating the tag on first use). Returns it and how many
    videos did not have it yet."""
    tag = tag_get_or_create(name=name)
    pks = [g.pk for g in generations]
    Through = Generation.tags.through
    had = set(Through.objects.filter(tag=tag, generation_id__in=pks).values_list("generation_id", flat=True))
    new = [Through(generation_id=pk, tag=tag) for pk in dict.fromkeys(pks) if pk not in had]
    Through.objects.bulk_create(new, ignore_conflicts=True)
    return tag, len(new)


def generation_untag(*, generation: Generation, name: str) -> bool:
    """Take the tag off the video; False when it did not have it. The tag itself stays."""
    tag = Tag.objects.filter(name__iexact=(name or "").strip()).first()
    if tag is None:
        return False
    deleted, _ = Generation.tags.through.objects.filter(generation=generation, tag=tag).delete()
    return deleted > 0


# --- Collections ------------------------------------------------------------------


def _collection_name(name: str) -> str:
    cleaned = re.sub(r"\s+", " ", name or "").strip()
    if not cleaned:
        raise ValidationError("A collection needs a name.")
    if len(cleaned) > COLLECTION_NAME_MAX:
        raise ValidationError(f"A collection name is at most {COLLECTION_NAME_MAX} characters.")
    return cleaned


def _collection_description(description: str) -> str:
    cleaned = (description or "").strip()
    if len(cleaned) > COLLECTION_DESCRIPTION_MAX:
        limit = COLLECTION_DESCRIPTION_MAX
        raise ValidationError(f"A collection description is at most {limit} characters (this one has {len(cleaned)}).")
    return cleaned


def collection_create(*, name: str, owner: AbstractBaseUser | None, description: str = "") -> Collection:
    collection = Collection(name=_collection_name(name), description=_collection_description(description), owner=owner)
    collection.full_clean()
    collection.save()
    return collection


def collection_by_name(name: str) -> Collection | None:
    """The collection called `name` (ignoring case; the oldest if several), or None.
    ValidationError when `name` is not a possible collection name."""
    name = _collection_name(name)
    return Collection.objects.filter(name__iexact=name).order_by("created_at", "id").first()


def collection_get_or_create(*, name: str, owner: AbstractBaseUser | None) -> tuple[Collection, bool]:
    """The collection called `name` (collection_by_name), else a new one. Names are not
    unique in the model, so this is a convenience for "add to a new collection"."""
    existing = collection_by_name(name)
    if existing is not None:
        return existing, False
    return collection_create(name=name, owner=owner), True


def collection_update(
    *, collection: Collection, name: str, description: str, user: AbstractBaseUser | None = None
) -> Collection:
    """Rename and/or describe; each change is audited with what it was before. Nothing is
    saved (or audited) when the input is invalid or nothing changed."""
    name, description = _collection_name(name), _collection_description(description)
    with transaction.atomic():
        # Locked, so the audit's "before" is the value this change replaced, not a stale copy.
        current = Collection.objects.select_for_update().get(pk=collection.pk)
        before_name, before_description = current.name, current.description
        current.name, current.description = name, description
        current.full_clean()
        if (name, description) != (before_name, before_description):
            current.save(update_fields=["name", "description", "updated_at"])
        code = str(current.code)
        if name != before_name:
            audit.record(
                Action.COLLECTION_RENAME,
                actor=user,
                message=f"Renamed the collection “{before_name}” to “{name}”.",
                collection=code,
                before=before_name,
                after=name,
            )
        if description != before_description:
            audit.record(
                Action.COLLECTION_DESCRIBE,
                actor=user,
                message=f"Changed the description of the collection “{name}”.",
                collection=code,
                before=before_description,
                after=description,
            )
    collection.name, collection.description, collection.updated_at = name, description, current.updated_at
    return collection


def collection_add(*, collection: Collection, generations: Iterable[Generation], user: AbstractBaseUser | None) -> int:
    """Append the videos to the collection (in the order given); a video already in it keeps
    its place. Returns how many were added."""
    added = 0
    by = user if user is not None and user.is_authenticated else None
    for generation in dict.fromkeys(generations):
        try:
            with transaction.atomic():
                _, created = CollectionItem.objects.get_or_create(
                    collection=collection, generation=generation, defaults={"added_by": by}
                )
        except IntegrityError:  # collection_item_unique: a concurrent add won
            created = False
        added += created
    if added:
        Collection.objects.filter(pk=collection.pk).update(updated_at=timezone.now())
    return added


def collection_remove(*, collection: Collection, generation: Generation, user: AbstractBaseUser | None = None) -> bool:
    """Take the video out of the collection (audited); False when it was not in it."""
    with transaction.atomic():
        deleted, _ = CollectionItem.objects.filter(collection=collection, generation=generation).delete()
        if deleted:
            Collection.objects.filter(pk=collection.pk).update(updated_at=timezone.now())
            audit.record(
                Action.COLLECTION_REMOVE,
                actor=user,
                generation=generation,
                message=f"Removed generation {generation.code} from the collection “{collection.name}”.",
                collection=str(collection.code),
            )
    return deleted > 0


def collection_delete(*, collection: Collection, user: AbstractBaseUser | None = None) -> int:
    """Delete the collection and its items (the videos stay), audited with its name, owner,
    description and the videos it held. Returns how many videos it held."""
    with transaction.atomic():
        codes = [
            str(code) for code in collection.items.order_by("added_at", "id").values_list("generation__code", flat=True)
        ]
        deleted, _ = Collection.objects.filter(pk=collection.pk).delete()
        if deleted:
            audit.record(
                Action.COLLECTION_DELETE,
                actor=user,
                message=f"Deleted the collection “{collection.name}” ({len(codes)} video(s); the videos stay).",
                collection=str(collection.code),
                name=collection.name,
                owner=collection.owner.get_username() if collection.owner_id else None,
                description=collection.description,
                generations=codes,
            )
    return len(codes)


# --- Bulk -------------------------------------------------------------------------


class SelectionTooLarge(ValidationError):
    pass


def selection(codes: Iterable[str], *, limit: int | None = None) -> list[Generation]:
    """The visible (not trashed) generations with these codes, in the order given; unknown or
    malformed codes are ignored. More than `limit` codes is refused, not truncated."""
    valid = []
    for code in codes:
        try:
            valid.append(uuid.UUID(str(code)))
        except ValueError:
            continue
    valid = list(dict.fromkeys(valid))
    limit = BULK_MAX if limit is None else limit
    if len(valid) > limit:
        raise SelectionTooLarge(f"Select at most {limit} videos at a time, not {len(valid)}.")
    visible = manifest_queryset(Generation.objects.filter(code__in=valid, trashed_at__isnull=True))
    rows = {g.code: g for g in visible}
    return [rows[c] for c in valid if c in rows]


def generations_trash(*, generations: Iterable[Generation], user: AbstractBaseUser | None) -> trash.TrashReport:
    """Move to the trash through generations.trash (ended ones only; the rest are skipped with a reason)."""
    return trash.move_to_trash(generations, user=user)


# --- Manifests --------------------------------------------------------------------

MANIFEST_VERSION = 1
CSV_COLUMNS = [
    "id",
    "status",
    "prompt",
    "aspect_ratio",
    "resolution",
    "duration",
    "camera_fixed",
    "seed_requested",
    "enable_safety_checker",
    "seed_used",
    "storage_key",
    "sha256",
    "bytes",
    "video_duration",
    "width",
    "height",
    "fps",
    "codec",
    "created_at",
    "rating",
    "is_pick",
    "tags",
    "source_image",
]


def manifest_queryset(queryset: QuerySet) -> QuerySet:
    """What a manifest row reads: the row without its logs, its source image, its tags."""
    return queryset.select_related("source_image").defer("fal_logs").prefetch_related("tags")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def manifest_entry(generation: Generation) -> dict:
    """One video in a manifest: every model input, the seed used, and where and what the file is."""
    g = generation
    return {
        "id": str(g.code),
        "status": g.status,
        "prompt": g.prompt_text,
        "inputs": {
            "aspect_ratio": g.aspect_ratio,
            "resolution": g.resolution,
            "duration": g.duration,
            "camera_fixed": g.camera_fixed,
            "seed": g.seed,  # as requested; null means random
            "enable_safety_checker": g.enable_safety_checker,
        },
        "seed_used": g.seed_used,
        "storage_key": g.video.name or None,
        "sha256": g.video_sha256 or None,
        "bytes": g.video_bytes,
        "video": {
            "duration": g.video_duration,
            "width": g.video_width,
            "height": g.video_height,
            "fps": g.video_fps,
            "codec": g.video_codec or None,
        },
        "created_at": _iso(g.created_at),
        "rating": g.rating,
        "is_pick": g.is_pick,
        "tags": [t.name for t in g.tags.all()],
        "source_image": str(g.source_image.code),
    }


def _csv_row(entry: dict) -> list:
    inputs, video = entry["inputs"], entry["video"]
    return [
        entry["id"],
        entry["status"],
        entry["prompt"],
        inputs["aspect_ratio"],
        inputs["resolution"],
        inputs["duration"],
        inputs["camera_fixed"],
        inputs["seed"],
        inputs["enable_safety_checker"],
        entry["seed_used"],
        entry["storage_key"],
        entry["sha256"],
        entry["bytes"],
        video["duration"],
        video["width"],
        video["height"],
        video["fps"],
        video["codec"],
        entry["created_at"],
        entry["rating"],
        entry["is_pick"],
        ", ".join(entry["tags"]),
        entry["source_image"],
    ]


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP "CSV injection"): text starting
    with = + - @ tab or CR gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _rows(queryset: QuerySet, chunk_size: int) -> Iterator[Generation]:
    # iterator() with prefetch_related needs chunk_size (Django ≥ 4.1): memory stays per chunk.
    return manifest_queryset(queryset).iterator(chunk_size=chunk_size)


def manifest_json_stream(queryset: QuerySet, *, meta: dict, chunk_size: int = 500) -> Iterator[str]:
    """A JSON manifest, written one video at a time: {"version", ...meta, "generations": [...], "count"}."""
    head = {"version": MANIFEST_VERSION, "exported_at": _iso(timezone.now()), **meta}
    yield json.dumps(head, indent=None)[:-1] + ', "generations": [\n'
    count = 0
    for generation in _rows(queryset, chunk_size):
        yield ("" if count == 0 else ",\n") + json.dumps(manifest_entry(generation))
        count += 1
    yield f'\n], "count": {count}}}\n'


def manifest_csv_stream(queryset: QuerySet, *, chunk_size: int = 500) -> Iterator[str]:
    """A CSV manifest with CSV_COLUMNS, one line per video, formula-guarded."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        writer.writerow([csv_safe(v) for v in values])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(CSV_COLUMNS)
    for generation in _rows(queryset, chunk_size):
        yield line(_csv_row(manifest_entry(generation)))


# --- ZIP --------------------------------------------------------------------------


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream that hands back what was written since the last drain.
    zipfile then writes data descriptors instead of seeking back, so the archive can be
    streamed while it is made and never exists as a whole, in memory or on disk."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


@dataclass
class ZipPlan:
    included: list[Generation] = field(default_factory=list)
    skipped: list[tuple[Generation, str]] = field(default_factory=list)


def zip_plan(generations: Iterable[Generation]) -> ZipPlan:
    """Which videos go into the ZIP: completed ones with an archived file; the rest are skipped."""
    plan = ZipPlan()
    for g in generations:
        if g.status != Generation.Status.COMPLETED:
            plan.skipped.append((g, f"not finished: {g.get_status_display().lower()}"))
        elif not g.video:
            plan.skipped.append((g, "no archived video"))
        else:
            plan.included.append(g)
    return plan


def zip_record_download(*, plan: ZipPlan, user: AbstractBaseUser | None) -> None:
    audit.record(
        Action.DOWNLOAD_LINK,
        actor=user,
        message=f"Downloaded a ZIP of {len(plan.included)} video(s) ({len(plan.skipped)} skipped).",
        generations=[str(g.code) for g in plan.included],
        skipped=[str(g.code) for g, _ in plan.skipped],
    )


def zip_stream(plan: ZipPlan, *, chunk_size: int = ZIP_CHUNK) -> Iterator[bytes]:
    """The ZIP, chunk by chunk: `<code>.mp4` for each included video (read through its storage
    in chunks, stored uncompressed: mp4 is already compressed), then manifest.json listing
    the videos and the skipped ones with their reasons. A file the storage cannot open is
    left out and listed as skipped too."""
    sink = _Sink()
    videos, skipped = [], [(g, reason) for g, reason in plan.skipped]
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for generation in plan.included:
            try:
                source = generation.video.storage.open(generation.video.name, "rb")
            except OSError:
                skipped.append((generation, "the archived file could not be read"))
                continue
            with source:
                info = zipfile.ZipInfo(f"{generation.code}.mp4", date_time=_zip_time(generation.created_at))
                info.compress_type = zipfile.ZIP_STORED
                info.file_size = generation.video_bytes or 0
                with archive.open(info, mode="w", force_zip64=True) as entry:
                    while chunk := source.read(chunk_size):
                        entry.write(chunk)
                        yield sink.drain()
            videos.append(generation)
            yield sink.drain()
        manifest = {
            "version": MANIFEST_VERSION,
            "exported_at": _iso(timezone.now()),
            "generations": [{**manifest_entry(g), "file": f"{g.code}.mp4"} for g in videos],
            "skipped": [{"id": str(g.code), "status": g.status, "reason": reason} for g, reason in skipped],
        }
        archive.writestr(
            zipfile.ZipInfo("manifest.json", date_time=_zip_time(timezone.now())),
            json.dumps(manifest, indent=2),
            compress_type=zipfile.ZIP_DEFLATED,
        )
    yield sink.drain()


def _zip_time(value: datetime) -> tuple:
    value = timezone.localtime(value)
    return (max(value.year, 1980), value.month, value.day, value.hour, value.minute, value.second)
