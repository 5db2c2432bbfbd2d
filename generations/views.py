from __future__ import annotations

import json
import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import pipeline
from .fal_gateway import FalError
from .fal_webhooks import WebhookRejected, verify

logger = logging.getLogger(__name__)


@csrf_exempt  # fal cannot send a CSRF token; the ED25519 signature authenticates it instead
@require_POST
def fal_webhook(request: HttpRequest) -> JsonResponse:
    try:
        request_id = verify(request.headers, request.body)
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
    if not isinstance(payload, dict) or payload.get("request_id") != request_id:
        return JsonResponse({"error": "The body's request_id does not match the signed one."}, status=400)
    outcome = pipeline.handle_webhook(
        request_id=request_id, generation_code=request.GET.get("generation"), payload=payload
    )
    logger.info("fal webhook for request %s: %s", request_id, outcome)
    # 200 even for an unknown request: fal would otherwise retry it for hours.
    return JsonResponse({"result": outcome})
