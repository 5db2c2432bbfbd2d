"""With DEBUG on (as `make run` sets it), Django's technical 404 page lists every URL pattern
of the site. Only staff see it; anyone else gets the site's own 404 page, as in production."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

# Phrases only the technical page has: its URLconf listing, and a route it would list.
TECHNICAL = ["Using the URLconf defined in", "webhooks/fal", "Django tried these URL patterns"]
TECHNICAL_FROM_A_VIEW = ["Raised by:", "Using the URLconf defined in"]
OURS = "There is nothing here: the link may be mistyped, or what it pointed to was deleted."


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    return settings


def assert_plain_404(response, who: str) -> None:
    assert response.status_code == 404, who
    page = response.content.decode()
    assert OURS in page, who
    for phrase in TECHNICAL + TECHNICAL_FROM_A_VIEW:
        assert phrase not in page, f"{who} saw the technical 404 ({phrase!r})"


@pytest.mark.parametrize("url", ["/no-such-page/", "/static/no-such-file.css", "/generations/not-a-code/"])
def test_an_anonymous_visitor_gets_the_plain_404_even_with_debug_on(debug, url):
    assert_plain_404(Client().get(url), f"anonymous, {url}")


def test_a_team_member_who_is_not_staff_gets_it_too(debug, viewer):
    client = Client()
    client.force_login(viewer)
    assert_plain_404(client.get("/no-such-page/"), "a viewer, unknown URL")
    # A 404 raised by a view (no such generation) as well.
    assert_plain_404(client.get(f"/generations/{uuid.uuid4()}/"), "a viewer, a view's Http404")


def test_staff_keep_the_technical_page(debug, superuser):
    client = Client()
    client.force_login(superuser)
    unknown = client.get("/no-such-page/")
    assert unknown.status_code == 404
    assert all(phrase in unknown.content.decode() for phrase in TECHNICAL)
    from_a_view = client.get(f"/generations/{uuid.uuid4()}/")
    assert from_a_view.status_code == 404
    assert all(phrase in from_a_view.content.decode() for phrase in TECHNICAL_FROM_A_VIEW)


def test_a_missing_slash_is_still_redirected(debug):
    # CommonMiddleware's APPEND_SLASH works on the 404 it sees, whichever page that is.
    response = Client().get("/login")
    assert response.status_code == 301 and response["Location"] == "/login/"


def test_with_debug_off_nothing_changes(settings, viewer):
    settings.DEBUG = False
    client = Client()
    client.force_login(viewer)
    assert_plain_404(client.get("/no-such-page/"), "DEBUG off")
