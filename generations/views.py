from __future__ import annotations

import json
import logging

from django.contrib import messages
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import actions, audit, gallery, health, permissions, pipeline, services
from .audit import Action
from .bad_input import BadInput
from .budget import BudgetExceeded
from .fal_gateway import FalError
from .fal_webhooks import WebhookRejected, remember_verified, verify
from .forms import GalleryFilterForm, ImageUploadForm, PromptSearchForm
from .models import Generation
from .ranged import ranged_file_response
from .ratelimits import upload_limit

logger = logging.getLogger(__name__)

# A download link is for clicking now, not for sharing.
DOWNLOAD_LINK_SECONDS = 300
# The storage folder of ExportJob files (models.export_file_upload_to), never served by /media/.
EXPORTS_FOLDER = "exports"


@csrf_exempt  # fal cannot send a CSRF token; the ED25519 signature authenticates it instead
@require_POST
def fal_webhook(request: HttpRequest) -> JsonResponse:
    try:
        signed = verify(request.headers, request.body)
    except WebhookRejected as exc:
        logger.warning("Rejected a fal webhook: %s", exc)
        return JsonResponse({"error": str(exc)}, status=401)
    except FalError as exc:
        # Cannot check signatures right now (simulator down): fal retries later.
        return JsonResponse({"error": exc.message}, status=503)
    try:
        payload = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "The body is not JSON."}, status=400)
    # fal signs either of its two ids (they differ after fal retried the request).
    if not isinstance(payload, dict) or signed.request_id not in (
        payload.get("request_id"),
        payload.get("gateway_request_id"),
    ):
        return JsonResponse({"error": "The body's request_id does not match the signed one."}, status=400)
    outcome = pipeline.handle_webhook(
        signed=signed, generation_reference=request.GET.get("generation"), payload=payload
    )
    remember_verified(signed, outcome=outcome, also=payload.get("request_id"))
    logger.info("fal webhook for request %s: %s", signed.request_id, outcome)
    # 200 even for an unknown request: fal would otherwise retry it for hours.
    return JsonResponse({"result": outcome})


# --- The gallery: the team's pages ----------------------------------------------------
# Every page needs a login (our own /login/: the admin's refuses non-staff viewers) and
# view_generation, which the "viewer" and "generator" groups have. Every rule of who may do
# what is decided in generations/permissions.py; these two names stay for the views.
viewer_required = permissions.viewer_required
generator_required = permissions.generator_required


def _get_generation(code) -> Generation:
    generation = gallery.generation_for_detail(code)
    if generation is None:
        raise Http404("No generation with this code.")
    return generation


def _page_args(request: HttpRequest) -> dict:
    """The page's cursors; one that is not a cursor this site wrote is refused with 400 and
    the reason (gallery.parse_cursor bounds them), with a link to the first page."""
    args = {"after": request.GET.get("after"), "before": request.GET.get("before")}
    for name, value in args.items():
        if value:
            try:
                gallery.parse_cursor(value)
            except gallery.InvalidCursor as exc:
                query = _query_without_cursor(request)
                raise BadInput(
                    f"This page link is damaged: its “{name}” cursor is not valid ({exc}).",
                    back_url=request.path + (f"?{query}" if query else ""),
                    back_label="Go to the first page",
                ) from None
    return args


def _query_without_cursor(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("after", None)
    params.pop("before", None)
    return params.urlencode()


@viewer_required
def gallery_index(request: HttpRequest) -> HttpResponse:
    form = GalleryFilterForm(request.GET)
    data = form.valid_data()
    filters = gallery.Filters.from_cleaned(data)
    page = gallery.generation_page(filters, order=data.get("sort") or gallery.NEWEST, **_page_args(request))
    context = {"form": form, "filters": filters, "page": page, "query": _query_without_cursor(request)}
    context["filtered"] = filters != gallery.Filters()
    return render(request, "gallery/index.html", context)


@viewer_required
def generation_detail(request: HttpRequest, code) -> HttpResponse:
    generation = _get_generation(code)
    context = {
        "generation": generation,
        "inputs": gallery.model_inputs(generation),
        "timings": gallery.timings(generation),
        "total_time": gallery.total_time(generation),
        "logs": gallery.log_lines(generation),
        "neighbours": gallery.neighbours(generation),
        "can_generate": permissions.can_generate(request.user),
    }
    return render(request, "gallery/detail.html", context)


@viewer_required
def generation_download(request: HttpRequest, code) -> HttpResponse:
    generation = _get_generation(code)
    if not permissions.can_see_generation(request.user, generation):
        raise Http404("No generation with this code.")  # in the trash: gone, for a viewer
    if not generation.video:
        raise Http404("This generation has no archived video.")
    audit.record(
        Action.DOWNLOAD_LINK,
        actor=request.user,
        generation=generation,
        cost=generation.cost,
        message=f"Downloaded the video of generation {generation.code}.",
    )
    filename = f"seedance-{generation.code}.mp4"
    storage = generation.video.storage
    if hasattr(storage, "bucket_name"):  # S3: a short-lived link that makes the browser save the file
        disposition = f'attachment; filename="{filename}"'
        url = storage.url(
            generation.video.name, parameters={"ResponseContentDisposition": disposition}, expire=DOWNLOAD_LINK_SECONDS
        )
        return redirect(url)
    return FileResponse(storage.open(generation.video.name, "rb"), as_attachment=True, filename=filename)


@generator_required
@require_POST
def generation_remix(request: HttpRequest, code) -> HttpResponse:
    generation = _get_generation(code)
    try:
        new = actions.remix(generation, user=request.user)
    except BudgetExceeded as exc:
        messages.error(request, f"Not remixed: over budget. {exc}")
        return redirect("generation-detail", code=generation.code)
    except (actions.NotAllowed, ValidationError) as exc:
        messages.error(request, f"Not remixed: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
        return redirect("generation-detail", code=generation.code)
    messages.success(request, f"Remix requested (${new.cost:.2f}); it appears here as it progresses.")
    return redirect("generation-detail", code=new.code)


@viewer_required
def generation_status(request: HttpRequest) -> JsonResponse:
    codes = [c for value in request.GET.getlist("ids") for c in value.split(",") if c]
    response = JsonResponse({"generations": gallery.status_feed(codes)})
    response["Cache-Control"] = "no-store"
    return response


@viewer_required
def image_index(request: HttpRequest) -> HttpResponse:
    page = gallery.image_page(**_page_args(request))
    can_upload = permissions.can_generate(request.user)
    context = {"page": page, "form": ImageUploadForm() if can_upload else None, "query": ""}
    return render(request, "gallery/images.html", context)


@generator_required
@require_POST
@upload_limit  # UPLOAD_LIMIT files per person; over it, 429 and nothing stored
def image_upload(request: HttpRequest) -> HttpResponse:
    form = ImageUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("files", []):
            messages.error(request, error)
        return redirect("images")
    for upload in form.cleaned_data["files"]:
        name = upload.name
        try:
            _, created = services.source_image_ingest(file=upload, filename=name, uploaded_by=request.user)
        except ValidationError as exc:
            messages.error(request, f"{name}: refused — {' '.join(exc.messages)}")
            continue
        (messages.success if created else messages.info)(
            request, f"{name}: {'added' if created else 'already in the library'}."
        )
    return redirect("images")


@viewer_required
def image_detail(request: HttpRequest, code) -> HttpResponse:
    image = gallery.image_by_code(code)
    if image is None:
        raise Http404("No source image with this code.")
    page = gallery.generation_page(gallery.Filters(image=image.code), **_page_args(request))
    context = {"image": image, "page": page, "query": ""}
    return render(request, "gallery/image_detail.html", context)


@viewer_required
def prompt_index(request: HttpRequest) -> HttpResponse:
    form = PromptSearchForm(request.GET)
    q = form.cleaned_data["q"].strip() if form.is_valid() else ""
    page = gallery.prompt_page(q=q, **_page_args(request))
    context = {"form": form, "page": page, "q": q, "query": _query_without_cursor(request)}
    return render(request, "gallery/prompts.html", context)


@viewer_required
def prompt_detail(request: HttpRequest, code) -> HttpResponse:
    prompt = gallery.prompt_by_code(code)
    if prompt is None:
        raise Http404("No prompt with this code.")
    page = gallery.generation_page(gallery.Filters(prompt=prompt.code), **_page_args(request))
    return render(request, "gallery/prompt_detail.html", {"prompt": prompt, "page": page, "query": ""})


@viewer_required
def private_media(request: HttpRequest, name: str) -> HttpResponse:
    """Files of the local storage, for logged-in users only (S3 serves its own presigned URLs)."""
    storage = default_storage
    parts = name.split("/")
    if (
        hasattr(storage, "bucket_name")
        or name.startswith("/")
        or "\\" in name
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise Http404("No such file.")
    if parts[0] == EXPORTS_FOLDER:
        # An export is its requester's alone: views_exports.export_download checks who asks.
        raise BadInput("Exports are downloaded from “Your exports”, by the person who asked for them.", status=404)
    owner = gallery.generation_of_file(name)
    if owner is not None and not permissions.can_see_generation(request.user, owner):
        raise Http404("No such file.")  # a trashed generation's video or poster, for a viewer
    try:
        if not storage.exists(name):
            raise Http404("No such file.")
        try:
            file = storage.open(name, "rb")
        except IsADirectoryError:
            raise BadInput(f"“{name}” is a folder, not a file; only files are served here.", status=404) from None
        # Ranges, so players can seek and scrub the local videos.
        return ranged_file_response(request, file, name=name, size=storage.size(name))
    except SuspiciousFileOperation:
        raise Http404("No such file.") from None


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and monitors: no login, no secrets; 503 when a part is unreachable."""
    checks = health.run_checks()
    healthy = all(check["ok"] for check in checks.values())
    response = JsonResponse(
        {"status": "ok" if healthy else "failing", "checks": checks}, status=200 if healthy else 503
    )
    response["Cache-Control"] = "no-store"
    return response
