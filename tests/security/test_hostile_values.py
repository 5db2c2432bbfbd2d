"""Hostile values in URLs get a 4xx page saying what was wrong, never a 500 (issue 12, item 8).

Cursors are read by one parser (gallery.parse_cursor: length, shape, a date UTC can hold,
an id within the tables' range); ids by one (validators.parse_id: ASCII digits, at most 19,
1 to 2^63 - 1). Each case runs with DEBUG off and on: the same answer either way.
"""

from __future__ import annotations

import base64

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from generations import gallery
from generations.models import Generation
from tests.conftest import T0

pytestmark = pytest.mark.django_db

N30 = "9" * 30
GENERATE_URL = reverse("admin:generations_generation_generate")
STATUS_URL = reverse("admin:generations_generation_status")


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# A year-1 moment east of UTC (or a year-9999 one west of it) is before year 1 (after 9999)
# in UTC: Python's datetime and SQLite cannot hold it.
YEAR_1_EAST = cursor("0001-01-01T00:00:00+05:00|1")
YEAR_9999_WEST = cursor("9999-12-31T23:00:00-05:00|1")
ID_30_DIGITS = cursor(f"2026-03-10T12:00:00+00:00|{N30}")
DAMAGED = "this is not a cursor!"
TOO_LONG = "A" * 5000

# (url, status, what the page must say) for the gallery's pages, as a viewer.
GALLERY_CASES = [
    (f"/?after={YEAR_1_EAST}", 400, "its date is out of range"),
    (f"/?before={YEAR_9999_WEST}", 400, "its date is out of range"),
    (f"/?sort=oldest&after={ID_30_DIGITS}", 400, "its row id is not a whole number"),
    (f"/?after={cursor('2026-13-45T12:00:00+00:00|1')}", 400, "its date is not a date"),
    (f"/?after={cursor('2026-03-10T12:00:00|1')}", 400, "its date is not a date and time with a time zone"),
    (f"/?after={DAMAGED}", 400, "it is not a cursor this site wrote"),
    (f"/?after={TOO_LONG}", 400, "it is 5000 characters long"),
    (f"/?sort=rating&after={cursor('r5|0001-01-01T00:00:00+05:00|1')}", 400, "its date is out of range"),
    (f"/?sort=rating&after={cursor(f'r{N30}|2026-03-10T12:00:00+00:00|1')}", 400, "its rating is not 0 to 5"),
    (f"/?sort=rating&before={cursor(f'r3|2026-03-10T12:00:00+00:00|{N30}')}", 400, "its row id"),
    (f"/images/?after={YEAR_1_EAST}", 400, "its date is out of range"),
    (f"/prompts/?after={YEAR_9999_WEST}", 400, "its date is out of range"),
    (f"/prompts/?q=zoom&before={ID_30_DIGITS}", 400, "its row id"),
    ("/media/generations", 404, "“generations” is a folder, not a file"),
    ("/media/exports/x/y.csv", 404, "Exports are downloaded from “Your exports”"),
]

# The same for the admin's live status feed and generate page, as a superuser.
ADMIN_CASES = [
    (f"{STATUS_URL}?id={N30}", 400, "is not a generation id: too long to be one"),
    (f"{STATUS_URL}?id=1&id=0", 400, "'0' is not a generation id: out of range"),
    (f"{STATUS_URL}?id=9223372036854775808", 400, "out of range"),
    (f"{STATUS_URL}?id=%C2%B2", 400, "'²' is not a generation id: not a whole number"),
    (f"{GENERATE_URL}?images={N30}", 400, "This link's “images” is wrong"),
    (f"{GENERATE_URL}?images=1&prompts={N30}", 400, "This link's “prompts” is wrong"),
    (f"{GENERATE_URL}?images=x", 400, "'x' is not an image id: not a whole number"),
]


@pytest.fixture
def viewer_page(viewer):
    client = Client(raise_request_exception=False)  # a crash shows as the 500 it would be
    client.force_login(viewer)
    return client


@pytest.fixture
def admin_page(superuser):
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    return client


@pytest.fixture(autouse=True)
def a_folder_in_media(db):
    default_storage.save("generations/2026/03/v.mp4", ContentFile(b"video"))


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def assert_refused(response, status: int, says: str) -> None:
    body = response.content.decode()
    assert response.status_code == status, body[:500]
    if response["Content-Type"].startswith("application/json"):
        assert says in response.json()["error"]
    else:
        assert escape(says) in body or says in body, body[:2000]
    for sign_of_a_crash in ("Server Error", "Traceback", "OverflowError", "IsADirectoryError"):
        assert sign_of_a_crash not in body


@pytest.mark.parametrize(("url", "status", "says"), GALLERY_CASES)
def test_the_gallery_refuses_a_hostile_value_saying_why(viewer_page, debug, url, status, says):
    assert_refused(viewer_page.get(url), status, says)


@pytest.mark.parametrize(("url", "status", "says"), ADMIN_CASES)
def test_the_admin_refuses_a_hostile_id_saying_why(admin_page, debug, url, status, says):
    assert_refused(admin_page.get(url), status, says)


def test_a_damaged_cursor_page_links_back_to_the_first_page_of_the_same_view(viewer_page):
    response = viewer_page.get(f"/?status=completed&sort=oldest&after={YEAR_1_EAST}")
    assert response.status_code == 400
    assert 'href="/?status=completed&amp;sort=oldest"' in response.content.decode()


def test_the_generate_form_refuses_posted_ids_out_of_range_without_a_query(admin_page):
    response = admin_page.post(
        GENERATE_URL,
        {
            "images": [N30],
            "library_prompts": ["99999999999999999999"],
            "typed_prompts": "Waves roll in.",
            "variations": "1",
            "_preview": "Preview",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "is not an image id: too long to be one" in errors["images"][0]
    assert "is not a prompt id: too long to be one" in errors["library_prompts"][0]
    assert not Generation.objects.exists()


def test_a_filter_date_at_the_end_of_time_is_ignored_with_the_reason(viewer_page):
    # The gallery's filters drop a bad field and say so (GalleryFilterForm); "to 9999-12-31"
    # would be "before 10000-01-01", which no datetime holds.
    response = viewer_page.get("/?date_to=9999-12-31&status=completed")
    assert response.status_code == 200
    assert "Ignored: date_to (Dates end at 9998-12-31.)" in response.content.decode()
    assert viewer_page.get("/export.csv?date_from=0001-01-01").status_code == 200


def test_valid_cursors_still_page(viewer_page, source_image, prompt):
    for _ in range(3):
        Generation.objects.create(source_image=source_image, prompt=prompt, prompt_text=prompt.text, created_at=T0)
    first = gallery.generation_page(gallery.Filters(), size=2)
    response = viewer_page.get(f"/?after={first.next_cursor}")
    assert response.status_code == 200
    assert len(response.context["page"].items) == 1
    # A cursor of the other order is not hostile: it counts as absent, as before (page 1).
    rating = viewer_page.get(f"/?sort=rating&after={first.next_cursor}")
    assert rating.status_code == 200 and len(rating.context["page"].items) == 3


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("__4", "cannot be decoded"),  # bytes ff fe: not UTF-8
        (YEAR_1_EAST, "its date is out of range"),
        (cursor("2026-03-10T12:00:00+00:00|0"), "its row id"),
        (cursor("2026-03-10T12:00:00+00:00|-4"), "its row id"),
        (cursor("r6|2026-03-10T12:00:00+00:00|1"), "its rating is not 0 to 5"),
        (cursor("a|b|c|d"), "wrong shape"),
    ],
)
def test_parse_cursor_says_what_is_wrong(value, says):
    with pytest.raises(gallery.InvalidCursor, match=says):
        gallery.parse_cursor(value)
