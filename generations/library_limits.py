"""The library's rate limit: collections created per person (COLLECTION_CREATE_LIMIT, 30 an hour).

Counted with generations.ratelimits (fixed windows in the shared cache). The collection is
added to the count first, in one atomic increment, before it is made, so parallel requests
cannot all slip under the limit; one that takes the count past the limit gives it back and is
refused (429). Only requests that would create a collection count: adding videos to an
existing one does not, and neither does a form refused for its input.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from . import ratelimits

logger = logging.getLogger(__name__)

COLLECTIONS_CREATED = "collections-created:user"


def collection_create_refusal(request: HttpRequest) -> HttpResponse | None:
    """Count one collection created by this person; None if it may go ahead, else the 429 page
    (or 503 when the limiter's cache cannot be reached and RATELIMIT_FAIL_OPEN is off)."""
    rate = settings.COLLECTION_CREATE_LIMIT
    try:
        counted = ratelimits.count(COLLECTIONS_CREATED, str(request.user.pk), rate, add=1)
    except ratelimits.CacheUnavailable:
        return ratelimits.refusal(
            request,
            title="Briefly unavailable",
            message="Creating collections is paused: the rate limiter cannot reach its store right now.",
            seconds=ratelimits.UNAVAILABLE_RETRY_SECONDS,
            back_url=reverse("collections"),
            back_label="Back to the collections",
            admin_page=False,
            status=503,
        )
    if counted is None or counted.count <= counted.limit:
        return None
    ratelimits.give_back(counted, 1)
    logger.warning("Refused a new collection by %s: over %s.", request.user.get_username(), rate)
    count, period = ratelimits._rate_in_words(rate)
    return ratelimits.refusal(
        request,
        title="Collection limit reached",
        message=(
            f"No collection was created. Each person may create {count} collections {period}, "
            "and you have reached that. You can still add videos to an existing collection."
        ),
        seconds=counted.seconds_left,
        back_url=reverse("collections"),
        back_label="Back to the collections",
        admin_page=False,
    )
