"""The Content-Security-Policy header (django-csp), with the origin media really comes from.

settings.CONTENT_SECURITY_POLICY holds the policy. Videos, posters and images are 'self'
in embedded mode (/media/), but on S3 they are presigned URLs on the storage's host. That
origin is taken from a URL the configured storage makes itself, so it follows the AWS
settings (endpoint, region, addressing style, bucket) exactly as boto3 applies them, and
it is added to img-src and media-src only.
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from django.core.files.storage import Storage, storages

logger = logging.getLogger(__name__)

MEDIA_DIRECTIVES = ("img-src", "media-src")


def media_origin() -> str | None:
    """The scheme://host[:port] of the default storage's file URLs, or None when they are
    relative (served by this site) or the storage cannot make a URL (logged)."""
    try:
        return _origin_of(storages["default"])
    except Exception:
        logger.exception("The storage could not make a media URL; img-src and media-src stay 'self'.")
        return None


@functools.lru_cache(maxsize=8)
def _origin_of(storage: Storage) -> str | None:
    # Signing is local (no request is sent); one URL per storage object is enough.
    url = urlsplit(storage.url("content-security-policy-probe"))
    if not (url.scheme and url.netloc):
        return None
    return f"{url.scheme}://{url.netloc}"


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware, adding the storage's origin to img-src and media-src."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        origin = media_origin()
        if origin:
            update = dict(parts.update or {})
            for directive in MEDIA_DIRECTIVES:
                existing = update.get(directive) or ()
                existing = [existing] if isinstance(existing, str) else list(existing)
                update[directive] = [*existing, origin]
            parts.update = update
        return parts
