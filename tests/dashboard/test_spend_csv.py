"""The spend ledger CSV: one row per generation requested in a month, streamed, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse

from generations.dashboard_views import csv_safe
from generations.models import Generation

from .conftest import at

pytestmark = pytest.mark.django_db
S = Generation.Status
URL = "/admin/dashboard/spend.csv"
HEADER = [
    "created_at",
    "generation",
    "requested_by",
    "batch",
    "status",
    "resolution",
    "aspect_ratio",
    "duration",
    "estimated_cost",
    "cost",
    "cost_note",
]


def download(client, query: str = "") -> tuple[StreamingHttpResponse, list[list[str]]]:
    response = client.get(URL + query)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return response, list(csv.reader(io.StringIO(body)))


def test_ledger_for_a_month(client, viewer, known_data):
    client.force_login(viewer)
    response, rows = download(client, "?month=2026-11")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="seedance-spend-2026-11.csv"'
    assert rows[0] == HEADER
    made = known_data["generations"]
    november = sorted((g for g in made.values() if g.created_at >= at(11, 1, 0)), key=lambda g: (g.created_at, g.pk))
    assert len(rows) == 1 + len(november) == 23
    assert [row[1] for row in rows[1:]] == [str(g.code) for g in november]
    assert sum(float(row[9]) for row in rows[1:]) == pytest.approx(5.60)

    by_code = {row[1]: row for row in rows[1:]}
    x2 = made["x2"]
    assert by_code[str(x2.code)] == [
        "2026-11-16T09:00:00+00:00",
        str(x2.code),
        "alice",
        str(known_data["b1"].code),
        "cancelled",
        x2.resolution,
        x2.aspect_ratio,
        str(x2.duration),
        "0.2500",
        "0.2500",
        "May be charged: cancelled while fal was already running it.",
    ]
    c6 = made["c6"]
    assert by_code[str(c6.code)][2:5] == ["bob", str(known_data["b2"].code), "completed"]
    assert by_code[str(c6.code)][8:] == ["0.2500", "0.6000", ""]
    assert by_code[str(made["p2"].code)][3] == ""  # no batch


def test_month_filter_uses_utc_month_bounds(client, viewer, known_data):
    client.force_login(viewer)
    _, rows = download(client, "?month=2026-10")
    made = known_data["generations"]
    # f_edge (Oct 21, 23:59:59) is in October; c10 (Oct 22), c9 (Oct 25), f5 (Oct 30) too; nothing from November.
    assert [row[1] for row in rows[1:]] == [str(made[name].code) for name in ("f_edge", "c10", "c9", "f5")]
    assert rows[1][0] == "2026-10-21T23:59:59+00:00"
    _, rows = download(client, "?month=2026-08")
    assert rows == [HEADER]


def test_default_is_this_month(client, viewer, known_data):
    client.force_login(viewer)
    response, rows = download(client)
    assert response["Content-Disposition"] == 'attachment; filename="seedance-spend-2026-11.csv"'
    assert len(rows) == 23


@pytest.mark.parametrize("month", ["2026-13", "november", "2026-11-01", "<script>"])
def test_bad_month_is_a_400(client, viewer, month):
    client.force_login(viewer)
    response = client.get(URL, {"month": month})
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "YYYY-MM" in response.content.decode()


def test_formula_injection_is_defused(client, viewer, factory, django_user_model, frozen_now):
    mallory = django_user_model.objects.create_user("@mallory", "m@example.com", "x")
    factory.make("evil", S.CANCELLED, at(11, 3), user=mallory, cost_note='=HYPERLINK("http://evil","click")')
    factory.make("minus", S.CANCELLED, at(11, 4), user=viewer, cost_note="-2+3")
    factory.make("plus", S.CANCELLED, at(11, 5), user=viewer, cost_note="+cmd|' /C calc'!A0")
    factory.make("tab", S.CANCELLED, at(11, 6), user=viewer, cost_note="\t=1+1")
    client.force_login(viewer)
    _, rows = download(client, "?month=2026-11")
    assert [(row[2], row[10]) for row in rows[1:]] == [
        ("'@mallory", '\'=HYPERLINK("http://evil","click")'),
        ("alice", "'-2+3"),
        ("alice", "'+cmd|' /C calc'!A0"),
        ("alice", "'\t=1+1"),
    ]
    # Numbers are left alone.
    assert rows[1][8:10] == ["0.2500", "0.2500"]


def test_csv_safe():
    assert csv_safe("=1+1") == "'=1+1"
    assert csv_safe("@x") == "'@x"
    assert csv_safe("plain = fine") == "plain = fine"
    assert csv_safe("") == ""
    assert csv_safe(5) == 5


def test_ledger_streams_in_a_constant_number_of_queries(client, viewer, factory, frozen_now):
    """The rows come from one query (chunked iterator), never one per generation."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for number in range(30):
        factory.make(f"g{number}", S.PENDING, at(11, 1 + number % 19), user=viewer)
    client.force_login(viewer)
    with CaptureQueriesContext(connection) as captured:
        _, rows = download(client)
    assert len(rows) == 31
    ledger = [q["sql"] for q in captured if "generations_generation" in q["sql"]]
    assert len(ledger) == 1
