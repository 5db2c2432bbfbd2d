"""The library's pages and actions: who may do what, bulk actions, the ZIP, the manifests."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.http import StreamingHttpResponse
from django.test import Client

from generations import library
from generations.models import AuditEvent, Collection, CollectionItem, Favourite, Generation, Tag

from .conftest import T0, S

pytestmark = pytest.mark.django_db


def _archived(make, n: int, **fields) -> Generation:
    """A completed generation whose mp4 really is in the default storage."""
    data = f"mp4-{n}-".encode() * (3000 + n)
    g = make(
        T0 + timedelta(minutes=n),
        S.COMPLETED,
        video_sha256=hashlib.sha256(data).hexdigest(),
        video_bytes=len(data),
        video_duration=5.0,
        video_width=1280,
        video_height=720,
        video_fps=24.0,
        video_codec="h264",
        seed=42,
        seed_used=42,
        **fields,
    )
    g.video.save(f"{g.code}.mp4", ContentFile(data), save=False)
    g.save(update_fields=["video"])
    g.data = data
    return g


def _bulk(client, action: str, generations, **extra):
    return client.post(
        "/bulk/", {"action": action, "codes": [str(g.code) for g in generations], "next": "/?tag=x", **extra}
    )


def _messages(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


# --- Permissions ----------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page(client, make, collection):
    g = make()
    urls = [
        "/tags/",
        "/collections/",
        f"/collections/{collection.code}/",
        f"/collections/{collection.code}/export.csv",
        "/export.json",
        "/export.csv",
    ]
    posts = [
        f"/generations/{g.code}/favourite/",
        f"/generations/{g.code}/rating/",
        f"/generations/{g.code}/tags/",
        f"/generations/{g.code}/collections/",
        "/bulk/",
        "/collections/new/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    for url in posts:
        response = client.post(url, {"name": "x", "codes": [str(g.code)], "action": "favourite"})
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert not Favourite.objects.exists() and not Tag.objects.exists()


def test_a_user_without_a_role_is_forbidden(client, alice, make):
    client.force_login(alice)
    g = make()
    assert client.get("/collections/").status_code == 403
    assert client.post(f"/generations/{g.code}/favourite/").status_code == 403


def test_mutations_refuse_get(viewer_client, make, collection):
    g = make()
    for url in [f"/generations/{g.code}/favourite/", "/bulk/", f"/collections/{collection.code}/edit/"]:
        assert viewer_client.get(url).status_code == 405, url


def test_a_viewer_curates_but_cannot_trash(viewer_client, make):
    g = make(status=S.COMPLETED)
    assert _bulk(viewer_client, "favourite", [g]).status_code == 302
    assert _bulk(viewer_client, "tag", [g], tag="keep").status_code == 302
    assert _bulk(viewer_client, "trash", [g]).status_code == 403
    g.refresh_from_db()
    assert g.trashed_at is None
    assert [t.name for t in g.tags.all()] == ["keep"] and g.favourites.count() == 1


def test_csrf_is_enforced(viewer, make):
    g = make()
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    assert client.post(f"/generations/{g.code}/favourite/").status_code == 403
    assert not Favourite.objects.exists()
    # With the token from the page's form it goes through.
    page = client.get(f"/generations/{g.code}/")
    token = page.context["csrf_token"]
    assert client.post(f"/generations/{g.code}/favourite/", {"csrfmiddlewaretoken": str(token)}).status_code == 302
    assert Favourite.objects.filter(user=viewer, generation=g).exists()


# --- One video --------------------------------------------------------------------------


def test_detail_page_favourite_rate_tag_collect(viewer_client, viewer, make, collection):
    g = make()
    url = f"/generations/{g.code}/"
    assert viewer_client.post(url + "favourite/", {"favourite": "1"})["Location"] == url
    viewer_client.post(url + "rating/", {"rating": "4"})
    viewer_client.post(url + "tags/", {"name": "Hero"})
    viewer_client.post(url + "tags/", {"name": "hero"})  # reused, not a second tag
    viewer_client.post(url + "collections/", {"collection": str(collection.code)})
    viewer_client.post(url + "collections/", {"new_collection": "Mood board"})
    g.refresh_from_db()
    assert g.rating == 4 and [t.name for t in g.tags.all()] == ["Hero"]
    assert sorted(c.name for c in g.collections.all()) == ["Client delivery", "Mood board"]

    page = viewer_client.get(url)
    assert page.context["generation"].is_favourite
    assert [t.name for t in page.context["tags"]] == ["Hero"]
    assert [c.name for c in page.context["in_collections"]] == ["Client delivery", "Mood board"]
    html = page.content.decode()
    assert "★ In my favourites" in html and 'value="4" checked' in html

    viewer_client.post(url + "favourite/", {"favourite": "0"})
    viewer_client.post(url + "rating/", {"rating": ""})
    viewer_client.post(url + "tags/remove/", {"name": "HERO"})
    g.refresh_from_db()
    assert not g.favourites.exists() and g.rating is None and not g.tags.exists()


def test_bad_input_is_a_message_not_an_error(viewer_client, make):
    g = make()
    url = f"/generations/{g.code}/"
    for path, data in [("rating/", {"rating": "9"}), ("rating/", {"rating": "x"}), ("tags/", {"name": " "})]:
        response = viewer_client.post(url + path, data)
        assert response.status_code == 302
        assert _messages(response)[-1].startswith("Not"), path
    response = viewer_client.post(url + "collections/", {"collection": "not-a-uuid"})
    assert "Choose a collection" in _messages(response)[-1]


def test_next_must_be_on_this_site(viewer_client, make):
    g = make()
    response = viewer_client.post(f"/generations/{g.code}/favourite/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/generations/{g.code}/"


# --- Collections --------------------------------------------------------------------------


def test_collections_list_create_rename_and_remove(viewer_client, viewer, make):
    response = viewer_client.post("/collections/new/", {"name": "Launch", "description": "For the client"})
    collection = Collection.objects.get(name="Launch")
    assert response["Location"] == f"/collections/{collection.code}/" and collection.owner == viewer
    a, b = make(T0), make(T0 + timedelta(hours=1))
    library.collection_add(collection=collection, generations=[b, a], user=viewer)
    listing = viewer_client.get("/collections/")
    assert [(c.name, c.count) for c in listing.context["collections"]] == [("Launch", 2)]

    page = viewer_client.get(f"/collections/{collection.code}/")
    assert [i.generation for i in page.context["items"]] == [b, a]  # the order added

    viewer_client.post(f"/collections/{collection.code}/edit/", {"name": "Launch v2", "description": "final"})
    viewer_client.post(f"/collections/{collection.code}/remove/", {"generation": str(b.code)})
    collection.refresh_from_db()
    assert (collection.name, collection.description) == ("Launch v2", "final")
    assert list(collection.generations.all()) == [a]
    assert viewer_client.post("/collections/new/", {"name": ""}).status_code == 302
    assert Collection.objects.count() == 1


def test_collection_page_queries_do_not_grow_with_items(viewer_client, viewer, make, collection):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(f"/collections/{collection.code}/").status_code == 200
        return len(ctx.captured_queries)

    library.collection_add(collection=collection, generations=[make(status=S.COMPLETED) for _ in range(5)], user=viewer)
    few = count()
    library.collection_add(
        collection=collection, generations=[make(status=S.COMPLETED) for _ in range(25)], user=viewer
    )
    assert len(viewer_client.get(f"/collections/{collection.code}/").context["items"]) == 30
    assert count() == few <= 7


def test_tags_page_counts_visible_videos(viewer_client, make):
    a, b = make(), make(status=S.FAILED)
    library.generations_tag(generations=[a, b], name="hero")
    Generation.objects.filter(pk=b.pk).update(trashed_at=T0)
    response = viewer_client.get("/tags/")
    assert [(t.name, t.count) for t in response.context["tags"]] == [("hero", 1)]


# --- Bulk ---------------------------------------------------------------------------------


def test_bulk_tag_collection_and_favourite(viewer_client, viewer, make, collection):
    a, b = make(), make()
    response = _bulk(viewer_client, "tag", [a, b], tag="Night")
    assert response["Location"] == "/?tag=x"
    _bulk(viewer_client, "tag", [a], tag="NIGHT")
    assert Tag.objects.get().generations.count() == 2
    _bulk(viewer_client, "collection", [b, a], collection=str(collection.code))
    _bulk(viewer_client, "collection", [a], new_collection="Fresh")
    assert [i.generation for i in CollectionItem.objects.filter(collection=collection)] == [b, a]
    assert list(Collection.objects.get(name="Fresh").generations.all()) == [a]
    response = _bulk(viewer_client, "favourite", [a, b])
    _bulk(viewer_client, "favourite", [a, b])
    assert Favourite.objects.filter(user=viewer).count() == 2
    assert "Starred 2 video(s)" in _messages(response)[-1]


def test_bulk_refuses_empty_unknown_and_too_large_selections(viewer_client, make, settings, monkeypatch):
    g = make()
    assert "Select at least one" in _messages(_bulk(viewer_client, "favourite", []))[-1]
    assert "Choose what to do" in _messages(_bulk(viewer_client, "explode", [g]))[-1]
    monkeypatch.setattr(library, "BULK_MAX", 1)
    response = _bulk(viewer_client, "favourite", [g, make()])
    assert "at most 1 videos" in _messages(response)[-1]
    assert not Favourite.objects.exists()


def test_bulk_trash_reports_moved_and_skipped(generator_client, generator, make):
    done, failed, running = make(status=S.COMPLETED), make(status=S.FAILED), make(status=S.IN_PROGRESS)
    response = _bulk(generator_client, "trash", [done, failed, running])
    texts = _messages(response)
    assert texts[0] == "Moved 2 video(s) to the trash."
    assert "still in progress; cancel it first" in texts[1]
    assert set(Generation.objects.filter(trashed_at__isnull=False)) == {done, failed}
    assert Generation.objects.get(pk=done.pk).trashed_by == generator


# --- The ZIP ------------------------------------------------------------------------------


def test_zip_streams_the_videos_and_a_manifest_and_is_audited(viewer_client, viewer, make):
    a, b = _archived(make, 1, rating=5), _archived(make, 2)
    library.generations_tag(generations=[a], name="hero")
    running = make(status=S.IN_PROGRESS)
    response = _bulk(viewer_client, "zip", [a, running, b])
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)  # never one bytes object
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="seedance-')
    chunks = list(response.streaming_content)
    assert len(chunks) > 3
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted([f"{a.code}.mp4", f"{b.code}.mp4", "manifest.json"])
    assert archive.read(f"{a.code}.mp4") == a.data and archive.read(f"{b.code}.mp4") == b.data

    manifest = json.loads(archive.read("manifest.json"))
    entry = manifest["generations"][0]
    assert entry["id"] == str(a.code) and entry["file"] == f"{a.code}.mp4"
    assert entry["prompt"] == a.prompt_text
    assert entry["inputs"] == {
        "aspect_ratio": a.aspect_ratio,
        "resolution": a.resolution,
        "duration": a.duration,
        "camera_fixed": a.camera_fixed,
        "seed": 42,
        "enable_safety_checker": a.enable_safety_checker,
    }
    assert entry["seed_used"] == 42 and entry["storage_key"] == a.video.name
    assert entry["sha256"] == hashlib.sha256(a.data).hexdigest() and entry["bytes"] == len(a.data)
    assert entry["video"] == {"duration": 5.0, "width": 1280, "height": 720, "fps": 24.0, "codec": "h264"}
    assert entry["created_at"] == a.created_at.isoformat() and entry["rating"] == 5 and entry["tags"] == ["hero"]
    assert manifest["skipped"] == [
        {"id": str(running.code), "status": "in_progress", "reason": "not finished: in progress"}
    ]

    [event] = AuditEvent.objects.all()
    assert event.action == AuditEvent.Action.DOWNLOAD_LINK and event.actor == viewer
    assert event.details == {"generations": [str(a.code), str(b.code)], "skipped": [str(running.code)]}


def test_zip_streams_in_chunks_of_the_stored_file(make):
    g = _archived(make, 3)
    plan = library.zip_plan([g])
    chunks = list(library.zip_stream(plan, chunk_size=1000))
    assert max(len(c) for c in chunks) < 2000  # the file never sits in memory whole
    assert zipfile.ZipFile(io.BytesIO(b"".join(chunks))).read(f"{g.code}.mp4") == g.data


def test_zip_of_nothing_finished_is_refused(viewer_client, make):
    response = _bulk(viewer_client, "zip", [make(status=S.FAILED)])
    assert response.status_code == 302 and "none of the selected videos" in _messages(response)[-1]
    assert not AuditEvent.objects.exists()


def test_zip_lists_a_missing_file_as_skipped(viewer_client, make):
    g = _archived(make, 4)
    g.video.storage.delete(g.video.name)
    ok = _archived(make, 5)
    response = _bulk(viewer_client, "zip", [g, ok])
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert [e["id"] for e in manifest["generations"]] == [str(ok.code)]
    assert manifest["skipped"][0]["reason"] == "the archived file could not be read"


# --- Manifests ------------------------------------------------------------------------------


def test_json_export_of_a_filtered_view(viewer_client, make):
    a, b = _archived(make, 1), _archived(make, 2)
    make(status=S.FAILED)
    library.generations_tag(generations=[a, b], name="hero")
    response = viewer_client.get("/export.json?tag=hero&sort=oldest")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].endswith('.json"')
    data = json.loads(b"".join(response.streaming_content))
    assert [e["id"] for e in data["generations"]] == [str(a.code), str(b.code)]
    assert data["count"] == 2 and data["filters"] == "tag=hero&sort=oldest"
    assert data["generations"][1]["sha256"] == hashlib.sha256(b.data).hexdigest()
    assert data["generations"][1]["inputs"]["seed"] == 42


def test_csv_export_has_every_column_and_guards_formulas(viewer_client, make, prompt):
    prompt.text = '=HYPERLINK("https://evil.example")'
    g = _archived(make, 1, prompt_text='=HYPERLINK("https://evil.example")')
    library.generations_tag(generations=[g], name="@risky")
    response = viewer_client.get("/export.csv?status=completed")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(rows[0]) == library.CSV_COLUMNS
    [row] = rows
    assert row["id"] == str(g.code) and row["prompt"] == '\'=HYPERLINK("https://evil.example")'
    assert row["tags"] == "'@risky" and row["seed_requested"] == "42" and row["storage_key"] == g.video.name
    assert row["sha256"] == g.video_sha256 and row["bytes"] == str(len(g.data)) and row["codec"] == "h264"


def test_collection_export_is_in_the_order_added(viewer_client, viewer, make, collection):
    a, b, c = _archived(make, 1), _archived(make, 2), _archived(make, 3)
    library.collection_add(collection=collection, generations=[c, a], user=viewer)
    data = json.loads(b"".join(viewer_client.get(f"/collections/{collection.code}/export.json").streaming_content))
    assert [e["id"] for e in data["generations"]] == [str(c.code), str(a.code)]
    assert data["collection"] == {"id": str(collection.code), "name": collection.name}
    body = b"".join(viewer_client.get(f"/collections/{collection.code}/export.csv").streaming_content).decode()
    assert [r["id"] for r in csv.DictReader(io.StringIO(body))] == [str(c.code), str(a.code)]
    assert str(b.code) not in body


def test_gallery_page_has_the_bulk_bar_and_stars(viewer_client, viewer, make):
    g = make()
    library.favourite_set(user=viewer, generation=g)
    response = viewer_client.get("/")
    html = response.content.decode()
    assert 'id="bulk-form"' in html and f'value="{g.code}" form="bulk-form"' in html
    assert response.context["page"].items[0].is_favourite is True
    assert 'value="trash"' not in html  # a viewer has no trash button
