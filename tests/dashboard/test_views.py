"""The dashboard page: who may see it, what it shows, and that its cost does not grow with the data."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations.models import Generation

from .conftest import at

pytestmark = pytest.mark.django_db
S = Generation.Status
URL = "/admin/dashboard/"


def test_urls():
    assert reverse("dashboard") == URL
    assert reverse("dashboard-spend-csv") == "/admin/dashboard/spend.csv"


@pytest.mark.parametrize("url", [URL, "/admin/dashboard/spend.csv"])
def test_anonymous_goes_to_the_admin_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/dashboard/")


@pytest.mark.parametrize("url", [URL, "/admin/dashboard/spend.csv"])
def test_non_staff_with_the_permission_goes_to_the_admin_login(client, alice, url):
    alice.user_permissions.add(Permission.objects.get(codename="view_generation"))
    client.force_login(alice)
    assert client.get(url).status_code == 302


@pytest.mark.parametrize("url", [URL, "/admin/dashboard/spend.csv"])
def test_staff_without_view_generation_is_forbidden(client, alice, url):
    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    assert client.get(url).status_code == 403


def test_viewer_sees_the_dashboard_in_the_admin_layout(client, viewer, frozen_now):
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    assert response.templates[0].name == "admin/dashboard.html"
    text = response.text
    assert "<h1>Operations dashboard</h1>" in text
    assert 'class="breadcrumbs"' in text and 'href="/admin/">Home</a>' in text
    assert 'id="site-name"' in text  # the admin header from base_site.html
    assert 'id="nav-sidebar"' in text  # each_context(): the app list in the sidebar
    assert '<meta http-equiv="refresh" content="60">' in text
    assert "No data yet" in text  # empty charts
    assert "Nothing in flight." in text
    assert response["Cache-Control"].startswith("max-age=0")


def test_page_shows_the_known_figures(client, viewer, known_data):
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    text = _squash(response.text)
    overview = response.context["overview"]
    assert overview.in_flight_total == 7

    assert '<h3>In flight</h3> <div class="figure">7</div>' in text
    assert '<div class="figure">62.5%</div>' in text
    assert "all time 57.9%" in text
    assert '<div class="figure">55 s</div>' in text
    assert "p95 1 min 35.5 s" in text
    assert '<div class="figure" title="60000000 bytes">57.2 MB</div>' in text
    assert "11 archived videos" in text
    assert '<div class="figure">$5.60</div>' in text
    assert "$3.85 settled, $1.75 reserved; 1 may be charged" in text
    assert '<div class="figure">$4.40</div>' in text
    assert "of $10.00 this month; your day: $1.00 left of $2.00" in text
    # Status counts, each linked to the filtered change list.
    assert 'data-status="completed"><a href="/admin/generations/generation/?status__exact=completed">11</a>' in text
    assert 'data-status="failed"><a href="/admin/generations/generation/?status__exact=failed">8</a>' in text
    # Failure ranking, in order.
    assert re.search(r"fal_422.*?<td class=\"num\">3</td>.*?submit_timeout.*?>2<.*?uncertain_submit.*?>1<", text)
    assert "ancient_error" not in text and "edge_error" not in text
    # In flight, oldest first, linked to the change pages, with queue position and requester.
    queued = known_data["generations"]["q1"]
    assert f'href="/admin/generations/generation/{queued.pk}/change/"' in text
    rows = re.findall(r"ops-status (\w+)\"", text)
    assert rows == ["archiving", "cancelling", "in_progress", "in_queue", "submitted", "pending", "pending"]
    assert '<td class="num">3</td> <td>bob</td>' in text
    # Spend per user and batch.
    assert re.search(r"<td>bob</td><td class=\"num\">9</td>.*?\$2\.85</td></tr>", text)
    assert re.search(r"<td>alice</td><td class=\"num\">13</td>.*?\$2\.75</td></tr>", text)
    assert re.search(r"Autumn campaign</td><td class=\"num\">5</td>.*?\$1\.05", text)
    # The CSV ledger is linked, this month and the one before.
    assert 'href="/admin/dashboard/spend.csv?month=2026-11"' in text
    assert 'href="/admin/dashboard/spend.csv?month=2026-10"' in text
    # Three charts with bars, one of them the histogram.
    assert text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 3
    assert "Submitted → archived" in text
    assert "Nov 20: completed 0, failed 0" in text
    assert "Nov 15: completed 1, failed 0" in text


def test_query_count_does_not_grow_with_the_data(client, viewer, factory, frozen_now):
    client.force_login(viewer)
    statuses = [S.COMPLETED, S.FAILED, S.PENDING, S.IN_QUEUE, S.CANCELLED]

    def grow_to(total: int) -> None:
        for number in range(len(factory.made), total):
            factory.make(
                f"g{number}",
                statuses[number % len(statuses)],
                at(11, 1 + number % 19, number % 24),
                user=viewer,
                took=30 + number,
                video_bytes=1000,
                error_code="fal_422" if number % 2 else "timeout",
                batch=None,
            )

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured)

    grow_to(5)
    small = queries()
    grow_to(50)
    assert queries() == small
    # Session, user, the viewer's two permission look-ups, and the selectors' 15 (17 on SQLite).
    assert small == (19 if connection.vendor == "postgresql" else 21)


def test_admin_index_links_to_the_dashboard(client, viewer):
    client.force_login(viewer)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert 'id="ops-dashboard-link" href="/admin/dashboard/"' in response.text
    # At the top: before the app list.
    assert response.text.index("ops-dashboard-link") < response.text.index('class="app-generations')


def test_admin_index_hides_the_link_without_the_permission(client, alice):
    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "ops-dashboard-link" not in response.text.split("</style>")[-1]


def _squash(html: str) -> str:
    """Whitespace between tags collapsed, so assertions need not follow the template's indentation."""
    return re.sub(r">\s+<", "> <", re.sub(r"\s+", " ", html))


def test_failure_reasons_are_said_in_words_beside_fal_s_code(client, viewer, factory, frozen_now):
    client.force_login(viewer)
    factory.make("refused", S.FAILED, at(11, 20, 9), user=viewer, error_code="content_policy_violation", batch=None)
    factory.make("late", S.FAILED, at(11, 20, 10), user=viewer, error_code="request_timeout", batch=None)
    text = _squash(client.get(URL).text)
    assert 'Refused by fal&#x27;s content checker <code class="ops-muted">content_policy_violation</code>' in text
    assert 'fal did not start it in time <code class="ops-muted">request_timeout</code>' in text
