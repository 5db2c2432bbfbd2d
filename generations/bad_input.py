"""Values in a URL that cannot be what they claim (a damaged page cursor, a 30-digit id):
refused with a 4xx page that says what was wrong, never a 500.

A view (or a helper it calls) raises BadInput; BadInputMiddleware turns it into the
answer, the same with DEBUG on or off: templates/400.html in the gallery,
templates/admin/400.html in the admin, {"error": ...} for a .json URL.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


class BadInput(Exception):
    """`message` says, for people, what is wrong with which value; `status` is 400 or 404."""

    def __init__(self, message: str, *, status: int = 400, back_url: str = "", back_label: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.back_url = back_url
        self.back_label = back_label


def bad_input_response(request: HttpRequest, exc: BadInput) -> HttpResponse:
    if request.path.endswith(".json"):
        return JsonResponse({"error": exc.message}, status=exc.status)
    context = {"message": exc.message, "back_url": exc.back_url, "back_label": exc.back_label}
    match = request.resolver_match
    if match is not None and "admin" in match.namespaces:
        from django.contrib import admin

        template = "admin/400.html"
        context = {**admin.site.each_context(request), "title": "Bad request", **context}
    else:
        template = "404.html" if exc.status == 404 else "400.html"
    return render(request, template, context, status=exc.status)


class BadInputMiddleware:
    """Answers a BadInput raised by any view (before Django's DEBUG pages see it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, BadInput):
            return bad_input_response(request, exception)
        return None
