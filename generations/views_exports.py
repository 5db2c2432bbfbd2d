"""Exports: the manifest answer (inline when small, a background job when large), the
requester's "Your exports" page, and the download of a finished one.

Every export request counts against EXPORT_LIMIT per person (generations.ratelimits' count
and refusal: over it, 429 with the wait in words). A job's file is its requester's alone:
anyone else gets 404, as if it did not exist; /media/ never serves exports/ (views.private_media).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from . import exports, ratelimits
from .models import ExportJob
from .views import DOWNLOAD_LINK_SECONDS, viewer_required

EXPORTS_GROUP = "exports:user"
EXPORTS_SHOWN = 50
# Seconds between reloads of "Your exports" while one of them is being written.
REFRESH_SECONDS = 5


def export_answer(request: HttpRequest, export: exports.Export) -> HttpResponse:
    """The answer to an export request: a 429 over EXPORT_LIMIT, the manifest itself when it
    is small, else a job and the page that will list it when it is ready."""
    refused = _over_the_limit(request)
    if refused is not None:
        return refused
    if not exports.is_large(export.rows):
        response = StreamingHttpResponse(
            exports.manifest_chunks(export.rows, fmt=export.fmt, meta=export.meta),
            content_type=exports.CONTENT_TYPES[export.fmt],
        )
        response["Content-Disposition"] = f'attachment; filename="{export.filename}.{export.fmt}"'
        response["Cache-Control"] = "no-store"
        return response
    job = exports.export_request(export=export, user=request.user)
    messages.info(
        request,
        f"More than {settings.EXPORT_INLINE_MAX_ROWS:,} videos: too many to send at once. "
        f"The {job.fmt.upper()} file is being written in the background; we'll tell you here "
        "when it is ready, with its download link.",
    )
    return redirect("exports")


def _over_the_limit(request: HttpRequest) -> HttpResponse | None:
    """Count this request against EXPORT_LIMIT; None if it may go ahead, else the 429 (or 503) page."""
    return ratelimits.per_person_refusal(
        request,
        group=EXPORTS_GROUP,
        rate=settings.EXPORT_LIMIT,
        doing="Exporting",
        says="Nothing was exported. Each person may ask for {count} exports {period}; you have none left for now.",
        title="Export limit reached",
        back_url=reverse("exports"),
        back_label="Your exports",
    )


@viewer_required
def export_index(request: HttpRequest) -> HttpResponse:
    """The requester's exports, newest first; reloads itself while one is being written."""
    jobs = list(ExportJob.objects.filter(requested_by=request.user).defer("query", "meta")[:EXPORTS_SHOWN])
    response = render(
        request,
        "gallery/exports.html",
        {"jobs": jobs, "refresh_seconds": REFRESH_SECONDS, "inline_max": f"{settings.EXPORT_INLINE_MAX_ROWS:,}"},
    )
    if any(not job.is_finished for job in jobs):
        response["Refresh"] = str(REFRESH_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _export_for(request: HttpRequest, code) -> ExportJob:
    """The requester's own job; anyone else's is a 404, as if it did not exist."""
    job = ExportJob.objects.filter(code=code, requested_by=request.user).first()
    if job is None:
        raise Http404("No export of yours with this code.")
    return job


@viewer_required
def export_download(request: HttpRequest, code) -> HttpResponse:
    job = _export_for(request, code)
    if job.status != ExportJob.Status.READY or not job.file:
        raise Http404("This export is not ready (see Your exports).")
    storage = job.file.storage
    if hasattr(storage, "bucket_name"):  # S3: a short-lived link that makes the browser save the file
        disposition = f'attachment; filename="{job.filename}"'
        url = storage.url(
            job.file.name,
            parameters={
                "ResponseContentDisposition": disposition,
                "ResponseContentType": exports.CONTENT_TYPES[job.fmt],
            },
            expire=DOWNLOAD_LINK_SECONDS,
        )
        return redirect(url)
    response = FileResponse(
        storage.open(job.file.name, "rb"),
        as_attachment=True,
        filename=job.filename,
        content_type=exports.CONTENT_TYPES[job.fmt],
    )
    response["Cache-Control"] = "no-store"
    return response
