"""The library's rate limit: collections created per person (COLLECTION_CREATE_LIMIT, 30 an hour).

Counted with generations.ratelimits (fixed windows in the shared cache). The collection is
added to the count first, in one atomic increment, before it is made, so parallel requests
cannot all slip under the limit; one that takes the count past the limit gives it back and is
refused (429). Only requests that would create a collection count: adding videos to an
existing one does not, and neither does a form refused for its input.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from . import ratelimits

COLLECTIONS_CREATED = "collections-created:user"


def collection_create_refusal(request: HttpRequest) -> HttpResponse | None:
    """Count one collection created by this person; None if it may go ahead, else the 429 page
    (or 503 when the limiter's cache cannot be reached and RATELIMIT_FAIL_OPEN is off)."""
    return ratelimits.per_person_refusal(
        request,
        group=COLLECTIONS_CREATED,
        rate=settings.COLLECTION_CREATE_LIMIT,
        doing="Creating collections",
        says=(
            "No collection was created. Each person may create {count} collections {period}, and you have "
            "reached that. You can still add videos to an existing collection."
        ),
        title="Collection limit reached",
        back_url=reverse("collections"),
        back_label="Back to the collections",
    )
