"""The operations dashboard (/admin/dashboard/) and its spend ledger CSV: thin views over
generations.dashboard (the figures) and generations.charts (the SVG).

Both are admin pages: staff only (anyone else goes to the admin login), and they need the
`generations.view_generation` permission (the "viewer" role has it), else 403.
"""

from __future__ import annotations

import csv
import functools
import itertools
from collections.abc import Iterable, Iterator
from datetime import timedelta
from decimal import Decimal

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.template.response import TemplateResponse

from . import charts
from . import dashboard as selectors

PERMISSION = "generations.view_generation"
REFRESH_SECONDS = 60
COMPLETED_COLOUR = "#16a34a"
FAILED_COLOUR = "#dc2626"
SPEND_COLOUR = "#0891b2"
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _admin_page(view):
    """Staff only (admin_view: else the admin login) with the view permission (else 403)."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args, **kwargs):
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(checked)


@_admin_page
def index(request: HttpRequest) -> HttpResponse:
    overview = selectors.overview(user=request.user)
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        "overview": overview,
        "charts": _charts(overview),
        "refresh_seconds": REFRESH_SECONDS,
        "ledger_months": _ledger_months(overview),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)


@_admin_page
def spend_csv(request: HttpRequest) -> HttpResponse:
    try:
        start, end = selectors.month_bounds(request.GET.get("month"))
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    rows = itertools.chain([selectors.LEDGER_HEADER], selectors.spend_ledger(start=start, end=end))
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="seedance-spend-{start:%Y-%m}.csv"'
    return response


def csv_safe(value):
    """A cell a spreadsheet will show as text, never run as a formula: text starting with
    = + - @ (or a tab or carriage return) gets a leading quote. Numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write() hands the line back, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([csv_safe(value) for value in row])


def _money(value: float | Decimal) -> str:
    return f"${value:,.2f}"


def _charts(overview: selectors.Overview) -> dict[str, str]:
    days = overview.days
    labels = [f"{day.day:%b} {day.day.day}" for day in days]
    return {
        "per_day": charts.stacked_bar_chart(
            [(label, [day.completed, day.failed]) for label, day in zip(labels, days, strict=True)],
            series=[charts.Series("completed", COMPLETED_COLOUR), charts.Series("failed", FAILED_COLOUR)],
            title=f"Completed and failed generations per day, last {len(days)} days",
            desc="Generations by the UTC day they were requested, split into completed and failed.",
            x_label="Day requested (UTC)",
            y_label="Generations",
            integer_axis=True,
        ),
        "spend_per_day": charts.bar_chart(
            [(label, float(day.spent)) for label, day in zip(labels, days, strict=True)],
            title=f"Spend per day, last {len(days)} days",
            desc="Cost (settled, or reserved while running) of the generations requested each UTC day, in US dollars.",
            x_label="Day requested (UTC)",
            y_label="US dollars",
            value_format=_money,
            colour=SPEND_COLOUR,
        ),
        "turnaround": charts.histogram(
            overview.turnaround.bins,
            title="Time from submission to archive",
            desc=(
                f"How long completed generations requested in the last {len(days)} days took "
                "from submission to fal until their video was archived."
            ),
            x_label="Submitted → archived",
            y_label="Generations",
        ),
    }


def _ledger_months(overview: selectors.Overview) -> list[str]:
    """This month and the one before, for the CSV links."""
    this_month = overview.month_start
    previous = (this_month.replace(day=1) - timedelta(days=1)).replace(day=1)
    return [f"{this_month:%Y-%m}", f"{previous:%Y-%m}"]
