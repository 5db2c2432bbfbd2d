"""Manifests of the gallery's filtered view or of a collection, as JSON or CSV, small or large.

A manifest of up to EXPORT_INLINE_MAX_ROWS videos streams in the request, as it always has.
A larger one would hold a web worker for a minute or more (200,000 rows took 79 s), so it
becomes an ExportJob instead: `export_request` stores what to export and queues the
`generations.export` task on commit; `export_run`, in a worker, writes the very same bytes
(library.manifest_*_stream over the same rows in the same order) to a temporary file, then
into the default storage under exports/<job code>/ (private: S3 serves it through a
presigned link, local storage only through views_exports.export_download, to its requester).

Who may export and how often is the views' business (views_exports: EXPORT_LIMIT per person).
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date, timedelta

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from seedance_studio.redaction import redact

from . import gallery, library
from .models import Collection, ExportJob, Generation

logger = logging.getLogger(__name__)

# A run that has held a job this long without finishing is taken to have died with its
# worker (the task is redelivered: acks_late); the next run takes the job over.
RUN_LEASE = timedelta(minutes=30)
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class ExportBusy(Exception):
    """Another run holds the job; try again in `countdown` seconds (when its lease ends)."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"another run holds this export for {countdown:.0f} s more")
        self.countdown = countdown


@dataclass(frozen=True)
class Export:
    """What one export request asks for: rows, format, file name, the manifest's head, and
    how to find the rows again in a worker (`query`, JSON)."""

    kind: str  # ExportJob.Kind
    fmt: str  # "csv" or "json"
    rows: QuerySet
    filename: str  # without the extension
    meta: dict
    query: dict


# --- What is exported ----------------------------------------------------------------


def gallery_rows(filters: gallery.Filters, order: str) -> QuerySet:
    """The filtered gallery view (every page of it), in the gallery's order."""
    queryset = gallery.filter_generations(gallery.card_queryset(), filters)
    return gallery.ordered_for_export(queryset, order)


def collection_rows(collection: Collection) -> QuerySet:
    """The collection's visible videos in the order they were added."""
    return Generation.objects.filter(collection_items__collection=collection, trashed_at__isnull=True).order_by(
        "collection_items__added_at", "collection_items__id"
    )


def export_of_gallery(*, filters: gallery.Filters, order: str, fmt: str, query_string: str) -> Export:
    return Export(
        kind=ExportJob.Kind.GALLERY,
        fmt=fmt,
        rows=gallery_rows(filters, order),
        filename=f"seedance-{date.today():%Y%m%d}",
        meta={"filters": query_string},
        query={"filters": filters_to_json(filters), "order": order},
    )


def export_of_collection(*, collection: Collection, fmt: str) -> Export:
    return Export(
        kind=ExportJob.Kind.COLLECTION,
        fmt=fmt,
        rows=collection_rows(collection),
        filename=f"collection-{collection.code}",
        meta={"collection": {"id": str(collection.code), "name": collection.name}},
        query={"collection": str(collection.code)},
    )


def filters_to_json(filters: gallery.Filters) -> dict:
    """The filters that are set, as JSON values (codes and dates as strings)."""
    data = {}
    for f in fields(filters):
        value = getattr(filters, f.name)
        if value == f.default:
            continue
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        data[f.name] = value
    return data


def filters_from_json(data: dict) -> gallery.Filters:
    """filters_to_json's inverse (Filters' annotations say which strings are codes or dates)."""
    kinds = {f.name: str(f.type) for f in fields(gallery.Filters)}
    values = {}
    for name, value in data.items():
        kind = kinds[name]
        if kind.startswith("uuid.UUID"):
            value = uuid.UUID(value)
        elif kind.startswith("date "):
            value = date.fromisoformat(value)
        values[name] = value
    return gallery.Filters(**values)


def is_large(rows: QuerySet) -> bool:
    """More than EXPORT_INLINE_MAX_ROWS rows? Counts at most one past the limit."""
    limit = settings.EXPORT_INLINE_MAX_ROWS
    return rows.order_by()[: limit + 1].count() > limit


def manifest_chunks(rows: QuerySet, *, fmt: str, meta: dict) -> Iterator[str]:
    """The manifest, chunk by chunk: one chunk per video, plus the head (and the JSON's tail)."""
    if fmt == "csv":
        return library.manifest_csv_stream(rows)
    return library.manifest_json_stream(rows, meta=meta)


# --- Large exports: a job, written by a worker --------------------------------------------


def export_request(*, export: Export, user) -> ExportJob:
    """Store the job and queue its task once the row is committed."""
    job = ExportJob(
        requested_by=user,
        kind=export.kind,
        fmt=export.fmt,
        query=export.query,
        meta=export.meta,
        filename=f"{export.filename}.{export.fmt}",
    )
    job.full_clean()
    job.save()
    pk = job.pk
    transaction.on_commit(lambda: queue_export(pk))
    return job


def queue_export(job_id: int) -> None:
    """Queue a job's task. With the broker unreachable the job fails at once, saying so (no
    sweeper looks for queued exports: asking again later is the remedy)."""
    from kombu.exceptions import OperationalError

    from .tasks import export_job

    try:
        export_job.delay(job_id)
    except OperationalError as exc:
        logger.warning("Could not queue export %s (broker unreachable: %s).", job_id, exc)
        ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
            status=ExportJob.Status.FAILED,
            error="The task queue could not be reached, so nothing was exported. Ask again in a few minutes.",
            finished_at=timezone.now(),
        )


def export_run(job_id: int) -> None:
    """Write a job's file (in a worker). Idempotent: a finished job is left alone, and a job
    is claimed with a conditional UPDATE (queued, or running past RUN_LEASE: its worker died);
    raises ExportBusy while another run holds it."""
    now = timezone.now()
    free = Q(status=ExportJob.Status.QUEUED) | Q(status=ExportJob.Status.RUNNING, started_at__lt=now - RUN_LEASE)
    if ExportJob.objects.filter(free, pk=job_id).update(status=ExportJob.Status.RUNNING, started_at=now) != 1:
        job = ExportJob.objects.filter(pk=job_id).only("status", "started_at").first()
        if job is None or job.is_finished:
            return
        raise ExportBusy(max(1.0, ((job.started_at or now) + RUN_LEASE - now).total_seconds()))
    job = ExportJob.objects.get(pk=job_id)
    try:
        rows, written, size = _write(job)
    except Exception as exc:
        logger.exception("Export %s failed.", job.code)
        ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING, started_at=now).update(
            status=ExportJob.Status.FAILED, error=redact(_reason(exc)), finished_at=timezone.now()
        )
        return
    done = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING, started_at=now).update(
        status=ExportJob.Status.READY, file=written, row_count=rows, file_size=size, finished_at=timezone.now()
    )
    if done != 1:  # this run outlived its lease and another took over: keep one file
        job.file.storage.delete(written)


class _Gone(Exception):
    pass


def _reason(exc: Exception) -> str:
    if isinstance(exc, _Gone):
        return str(exc)
    return f"Writing the file failed ({type(exc).__name__}: {exc}). Ask for the export again."


def _rows_of(job: ExportJob) -> QuerySet:
    if job.kind == ExportJob.Kind.COLLECTION:
        collection = Collection.objects.filter(code=job.query["collection"]).first()
        if collection is None:
            raise _Gone("The collection was deleted before its export was written.")
        return collection_rows(collection)
    return gallery_rows(filters_from_json(job.query.get("filters", {})), job.query.get("order", gallery.NEWEST))


def _write(job: ExportJob) -> tuple[int, str, int]:
    """The manifest into a temporary file, then into storage: (videos, stored name, bytes).
    No transaction is open meanwhile (the upload may take a while)."""
    chunks = 0
    with tempfile.NamedTemporaryFile(prefix="export-", suffix=f".{job.fmt}") as temporary:
        for chunk in manifest_chunks(_rows_of(job), fmt=job.fmt, meta=job.meta):
            temporary.write(chunk.encode())
            chunks += 1
        temporary.flush()
        size = temporary.tell()
        temporary.seek(0)
        name = job.file.field.generate_filename(job, job.filename)
        stored = job.file.storage.save(name, File(temporary, name=job.filename), max_length=255)
    head_and_tail = 1 if job.fmt == "csv" else 2
    return chunks - head_and_tail, stored, size
