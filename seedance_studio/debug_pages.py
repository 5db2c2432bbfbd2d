"""Django's technical 404 page, which lists every URL pattern of the site, is for staff only.

With DEBUG on (as `make run`'s .env sets it), Django answers any 404 with that page, to
anyone. Everyone who is not staff gets templates/404.html instead, the page production
shows (through Django's own `page_not_found` view); staff keep the technical page.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest
from django.urls import Resolver404, resolve
from django.views.defaults import page_not_found


def _sees_technical_pages(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


class Technical404ForStaffOnlyMiddleware:
    """After AuthenticationMiddleware. An unknown URL never reaches a view, so it is resolved
    here first (only while DEBUG is on); a 404 raised by a view goes through process_exception."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if settings.DEBUG and not _sees_technical_pages(request):
            try:
                resolve(request.path_info, getattr(request, "urlconf", None))
            except Resolver404 as exc:
                return page_not_found(request, exc)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if settings.DEBUG and isinstance(exception, Http404) and not _sees_technical_pages(request):
            return page_not_found(request, exception)
        return None
