"""Collections are bounded: descriptions of at most 2000 characters (form, service, model and
database), /collections/ and /tags/ in pages with a fixed query budget that never read a whole
description, and at most COLLECTION_CREATE_LIMIT new collections per person."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import library
from generations.models import Collection, CollectionItem, Tag
from generations.views_library import COLLECTIONS_PAGE_SIZE, TAGS_PAGE_SIZE

from .conftest import T0, S

pytestmark = pytest.mark.django_db
LIMIT = 2000


def _messages(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


# --- descriptions -------------------------------------------------------------------------------


def test_a_2001_character_description_is_refused_on_creation_and_nothing_is_stored(viewer_client):
    response = viewer_client.post("/collections/new/", {"name": "Too long", "description": "d" * (LIMIT + 1)})
    assert response.status_code == 302 and response["Location"] == "/collections/"
    assert _messages(response) == [
        "Not created: A collection description is at most 2000 characters (this one has 2001)."
    ]
    assert not Collection.objects.exists()
    response = viewer_client.post("/collections/new/", {"name": "Just fits", "description": "d" * LIMIT})
    assert Collection.objects.get().description == "d" * LIMIT


def test_a_2001_character_description_is_refused_on_edit_and_nothing_changes(viewer_client, collection):
    url = f"/collections/{collection.code}/edit/"
    response = viewer_client.post(url, {"name": "Renamed too", "description": "é" * (LIMIT + 1)})
    assert _messages(response) == [
        "Not saved: A collection description is at most 2000 characters (this one has 2001)."
    ]
    collection.refresh_from_db()
    assert (collection.name, collection.description) == ("Client delivery", "")


def test_the_forms_say_the_limit(viewer_client, collection):
    for url in ("/collections/", f"/collections/{collection.code}/"):
        assert 'maxlength="2000"' in viewer_client.get(url).text, url


def test_the_service_the_model_and_the_database_refuse_it_too(viewer, collection):
    with pytest.raises(ValidationError, match="at most 2000 characters"):
        library.collection_create(name="Long", description="x" * (LIMIT + 1), owner=viewer)
    with pytest.raises(ValidationError, match="at most 2000 characters"):
        library.collection_update(collection=collection, name="Client delivery", description="x" * (LIMIT + 1))
    with pytest.raises(ValidationError) as refused:
        Collection(name="Long", description="x" * (LIMIT + 1)).full_clean()
    assert refused.value.message_dict == {
        "description": ["A collection description is at most 2000 characters (this one has 2001)."]
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Collection.objects.create(name="Long", description="x" * (LIMIT + 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Collection.objects.filter(pk=collection.pk).update(description="x" * (LIMIT + 1))
    assert Collection.objects.count() == 1
    Collection.objects.create(name="Fits", description="x" * LIMIT)


# --- the lists ----------------------------------------------------------------------------------


def _collections(n: int, owner, start: int = 0) -> list[Collection]:
    return Collection.objects.bulk_create(
        Collection(name=f"Board {i:04d}", description=f"{i:04d}" + "long words " * 180, owner=owner)
        for i in range(start, start + n)
    )


def _page_queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_collections_come_in_pages(viewer_client, viewer, make):
    boards = _collections(COLLECTIONS_PAGE_SIZE + 3, viewer)
    visible, binned = make(T0, S.COMPLETED), make(T0, S.COMPLETED, trashed_at=T0)
    library.collection_add(collection=boards[1], generations=[visible, binned], user=viewer)
    first = viewer_client.get("/collections/")
    assert [c.name for c in first.context["collections"]] == [f"Board {i:04d}" for i in range(COLLECTIONS_PAGE_SIZE)]
    assert first.context["collections"][1].count == 1  # the trashed one is not counted
    assert 'href="?page=2"' in first.text and "Page 1 of 2" in first.text
    second = viewer_client.get("/collections/?page=2")
    assert [c.name for c in second.context["collections"]] == [f"Board {i:04d}" for i in range(50, 53)]
    assert "Board 0052" in second.text and "Board 0000" not in second.text
    # A description shows as its start, cut to 120 characters.
    assert "0001long words long words" in first.text
    assert len(first.context["collections"][0].description_start) == 121
    assert viewer_client.get("/collections/?page=99").context["page"].number == 2  # the last one


def test_the_collections_page_costs_the_same_queries_however_many_and_never_reads_a_whole_description(
    viewer_client, viewer
):
    _collections(3, viewer)
    few = _page_queries(viewer_client, "/collections/")
    _collections(COLLECTIONS_PAGE_SIZE * 3, viewer, start=100)
    many = _page_queries(viewer_client, "/collections/")
    assert len(many) == len(few) <= 7, many
    for sql in many:
        without_previews = re.sub(r'SUBSTR(ING)?\("generations_collection"\."description"', "", sql, flags=re.I)
        assert '"generations_collection"."description"' not in without_previews, sql


def test_tags_come_in_pages_with_their_counts(viewer_client, make):
    Tag.objects.bulk_create(Tag(name=f"tag-{i:04d}") for i in range(TAGS_PAGE_SIZE + 2))
    library.generations_tag(generations=[make(T0, S.COMPLETED), make(T0, S.COMPLETED)], name="tag-0000")
    library.generations_tag(generations=[make(T0, S.COMPLETED, trashed_at=T0)], name="tag-0000")
    first = viewer_client.get("/tags/")
    assert len(first.context["tags"]) == TAGS_PAGE_SIZE and first.context["tags"][0].count == 2
    assert 'href="?page=2"' in first.text
    assert [t.name for t in viewer_client.get("/tags/?page=2").context["tags"]] == ["tag-0200", "tag-0201"]
    few = _page_queries(viewer_client, "/tags/?page=2")
    assert len(_page_queries(viewer_client, "/tags/")) == len(few)


# --- how many a person may create -----------------------------------------------------------------


@pytest.fixture
def limit_of_three(settings):
    settings.RATELIMIT_ENABLE = True
    settings.COLLECTION_CREATE_LIMIT = "3/h"
    with time_machine.travel(timezone.now(), tick=False):  # never straddle a window's edge
        yield settings


def test_creating_past_the_limit_gets_429_with_a_clear_page(limit_of_three, viewer_client, make):
    for n in range(3):
        response = viewer_client.post("/collections/new/", {"name": f"Board {n}"})
        assert response.status_code == 302, n
    refused = viewer_client.post("/collections/new/", {"name": "Board 3", "description": "more"})
    assert refused.status_code == 429
    assert "Collection limit reached" in refused.text
    assert "No collection was created. Each person may create 3 collections an hour" in refused.text
    assert "Try again in" in refused.text and int(refused["Retry-After"]) > 0
    assert Collection.objects.count() == 3
    # Typing a new name in the bulk bar or on a video's page is creating one too.
    g = make(T0, S.COMPLETED)
    bulk = viewer_client.post("/bulk/", {"action": "collection", "codes": [str(g.code)], "new_collection": "Fresh"})
    one = viewer_client.post(f"/generations/{g.code}/collections/", {"new_collection": "Fresher"})
    assert bulk.status_code == one.status_code == 429
    assert Collection.objects.count() == 3 and not CollectionItem.objects.exists()
    # Adding to an existing collection, by choice or by its name, is not.
    existing = viewer_client.post(f"/generations/{g.code}/collections/", {"new_collection": "board 1"})
    assert existing.status_code == 302
    assert list(CollectionItem.objects.values_list("collection__name", flat=True)) == ["Board 1"]


def test_refused_input_does_not_count_and_the_limit_is_per_person(limit_of_three, viewer_client, generator):
    generator_client = Client()
    generator_client.force_login(generator)
    for _ in range(5):
        viewer_client.post("/collections/new/", {"name": "", "description": "x"})
        viewer_client.post("/collections/new/", {"name": "Long", "description": "x" * (LIMIT + 1)})
    for n in range(3):
        assert viewer_client.post("/collections/new/", {"name": f"Vera {n}"}).status_code == 302
    assert generator_client.post("/collections/new/", {"name": "Gene's"}).status_code == 302
    assert viewer_client.post("/collections/new/", {"name": "Vera 3"}).status_code == 429
    assert Collection.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_creations_make_only_the_limit(limit_of_three, live_server, viewer):
    """20 requests at once against a limit of 3, through the real server and the shared cache
    (Redis on PostgreSQL runs): exactly 3 collections, 17 refusals."""
    live_server.thread.httpd.socket.listen(64)
    browser = Client()
    browser.force_login(viewer)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    login_page = httpx.get(f"{live_server.url}/login/", timeout=30)
    token = re.search(rf"{settings.CSRF_COOKIE_NAME}=([^;]+)", " ".join(login_page.headers.get_list("set-cookie")))
    assert token, login_page.headers
    cookies = f"{settings.CSRF_COOKIE_NAME}={token.group(1)}; {settings.SESSION_COOKIE_NAME}={session}"

    def create(n: int) -> int:
        return httpx.post(
            f"{live_server.url}/collections/new/",
            data={"csrfmiddlewaretoken": token.group(1), "name": f"Race {n}"},
            headers={"Cookie": cookies},
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(create, range(20)))
    assert statuses.count(302) == 3 and statuses.count(429) == 17, statuses
    assert Collection.objects.count() == 3
