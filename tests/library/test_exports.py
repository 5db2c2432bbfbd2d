"""Exports with a bound (issue 12, item 9): a manifest of more than EXPORT_INLINE_MAX_ROWS videos
is an ExportJob written by a worker, downloaded by its requester only; small ones stream
inline exactly as before; every export request counts against EXPORT_LIMIT per person.

The background file is compared with the inline answer for the same URL (same filters, same
order, same columns): byte for byte for CSV, and for JSON everything but `exported_at`.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client

from generations import exports, gallery, library
from generations.models import ExportJob, Generation
from tests.conftest import T0, team_member, wait_until

S = Generation.Status


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def same_manifest(fmt: str, inline: bytes, background: bytes) -> None:
    if fmt == "csv":
        assert background == inline
        return
    inline_data, background_data = json.loads(inline), json.loads(background)
    inline_data.pop("exported_at"), background_data.pop("exported_at")
    assert background_data == inline_data
    # The same text too, apart from that one value.
    assert background.split(b'"exported_at"')[0] == inline.split(b'"exported_at"')[0]
    assert background.split(b'"generations": [')[1] == inline.split(b'"generations": [')[1]


@pytest.fixture
def rows(make, viewer, generator):
    """Twelve generations over three statuses and two days, tagged, starred and collected."""
    made = []
    for n in range(12):
        status = [S.COMPLETED, S.FAILED, S.PENDING][n % 3]
        made.append(
            make(T0 + timedelta(hours=5 * n), status, requested_by=generator, prompt_text=f"Take {n}, = a formula?")
        )
    library.generations_tag(generations=made[::2], name="hero")
    library.favourites_bulk_add(user=viewer, generations=made[:7])
    return made


@pytest.fixture
def other_viewer(db, django_user_model):
    return team_member(django_user_model, "otto", "viewer")


# --- Inline, as before ------------------------------------------------------------------------


def test_a_small_export_stays_inline_and_stores_nothing(viewer_client, rows, settings):
    settings.EXPORT_INLINE_MAX_ROWS = 12  # "more than": twelve rows are still small
    response = viewer_client.get("/export.csv?sort=oldest")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="seedance-')
    assert len(body_of(response).decode().splitlines()) == 1 + 12
    assert not ExportJob.objects.exists()


# --- Large: a job -------------------------------------------------------------------------------


def test_a_large_export_answers_at_once_with_a_job_and_queues_it_on_commit(
    viewer_client, viewer, rows, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_INLINE_MAX_ROWS = 2  # three of the viewer's favourites are completed
    with (
        mock.patch("generations.tasks.export_job.delay", autospec=True) as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = viewer_client.get("/export.json?status=completed&favourites=on&sort=oldest")
    assert response.status_code == 302 and response["Location"] == "/exports/"
    job = ExportJob.objects.get()
    delay.assert_called_once_with(job.pk)
    assert (job.requested_by, job.kind, job.fmt, job.status) == (viewer, "gallery", "json", "queued")
    assert job.query == {
        "filters": {"status": "completed", "favourites_of": viewer.pk},
        "order": "oldest",
    }
    assert job.meta == {"filters": "status=completed&favourites=on&sort=oldest"}
    assert job.filename.startswith("seedance-") and job.filename.endswith(".json")
    page = viewer_client.get("/exports/")
    html = page.content.decode()
    assert "More than 2 videos: too many to send at once." in html
    assert "we&#x27;ll tell you here when it is ready" in html
    assert "Queued…" in html and page["Refresh"] == "5"


def test_the_job_writes_what_the_inline_export_gives(viewer_client, viewer, rows, collection, settings):
    """In-process (export_run called directly): the file matches the inline answer, for both
    formats, the gallery's filters (mine, tag, date, order) and a collection."""
    library.collection_add(collection=collection, generations=[rows[5], rows[1], rows[9]], user=viewer)
    urls = [
        "/export.csv?sort=oldest",
        "/export.json?tag=hero&sort=rating",
        "/export.csv?favourites=on&date_from=2026-03-10&date_to=2026-03-11",
        "/export.json?q=Take&status=failed",
        f"/collections/{collection.code}/export.json",
        f"/collections/{collection.code}/export.csv",
    ]
    for url in urls:
        settings.EXPORT_INLINE_MAX_ROWS = 1000
        inline = body_of(viewer_client.get(url))
        settings.EXPORT_INLINE_MAX_ROWS = 0
        with mock.patch("generations.tasks.export_job.delay", autospec=True):
            assert viewer_client.get(url).status_code == 302
        job = ExportJob.objects.latest("id")
        exports.export_run(job.pk)
        job.refresh_from_db()
        assert job.status == "ready", (url, job.error)
        with default_storage.open(job.file.name, "rb") as file:
            written = file.read()
        fmt = url.rsplit(".", 1)[1].split("?")[0]
        same_manifest(fmt, inline, written)
        assert job.file_size == len(written)
        expected_rows = written.decode().count("\n") - 1 if fmt == "csv" else json.loads(written)["count"]
        assert job.row_count == expected_rows, url
        assert job.file.name.startswith(f"exports/{job.code}/")
    assert ExportJob.objects.filter(status="ready").count() == len(urls)


def test_a_finished_job_is_not_written_again_and_a_held_one_waits(viewer, rows):
    export = exports.export_of_gallery(filters=gallery.Filters(), order="newest", fmt="csv", query_string="")
    with mock.patch("generations.tasks.export_job.delay", autospec=True):
        job = exports.export_request(export=export, user=viewer)
    exports.export_run(job.pk)
    job.refresh_from_db()
    first = (job.file.name, job.finished_at)
    exports.export_run(job.pk)  # a redelivered task: nothing to do
    job.refresh_from_db()
    assert (job.file.name, job.finished_at) == first
    ExportJob.objects.filter(pk=job.pk).update(status="running", started_at=job.finished_at)
    with pytest.raises(exports.ExportBusy):  # another run holds it (its lease has not ended)
        exports.export_run(job.pk)
    ExportJob.objects.filter(pk=job.pk).update(started_at=job.finished_at - exports.RUN_LEASE - timedelta(seconds=1))
    exports.export_run(job.pk)  # its worker died: taken over
    job.refresh_from_db()
    assert job.status == "ready" and job.row_count == 12


def test_a_collection_deleted_before_its_export_is_written_fails_saying_so(viewer, collection):
    export = exports.export_of_collection(collection=collection, fmt="json")
    with mock.patch("generations.tasks.export_job.delay", autospec=True):
        job = exports.export_request(export=export, user=viewer)
    collection.delete()
    exports.export_run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "The collection was deleted before its export was written."


def test_an_unreachable_broker_fails_the_job_at_once_saying_so(
    viewer_client, rows, settings, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    settings.EXPORT_INLINE_MAX_ROWS = 1
    with (
        mock.patch("generations.tasks.export_job.delay", autospec=True, side_effect=OperationalError("down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        viewer_client.get("/export.csv")
    job = ExportJob.objects.get()
    assert job.status == "failed" and "The task queue could not be reached" in job.error
    assert "The task queue could not be reached" in viewer_client.get("/exports/").content.decode()


def test_filters_survive_the_trip_through_json():
    filters = gallery.Filters(
        status="completed",
        image=uuid.uuid4(),
        duration=5,
        date_from=T0.date(),
        date_to=T0.date(),
        favourites_of=7,
        tag="hero",
        rating=4,
        picks=True,
    )
    data = json.loads(json.dumps(exports.filters_to_json(filters)))
    assert exports.filters_from_json(data) == filters


def test_just_past_the_default_threshold_is_a_job(viewer_client, source_image, prompt, settings):
    assert settings.EXPORT_INLINE_MAX_ROWS == 5000
    Generation.objects.bulk_create(
        Generation(source_image=source_image, prompt=prompt, prompt_text=prompt.text, created_at=T0)
        for _ in range(5000)
    )
    inline = viewer_client.get("/export.csv")
    assert isinstance(inline, StreamingHttpResponse)  # (not read: streaming 5,000 rows is not the point)
    Generation.objects.create(source_image=source_image, prompt=prompt, prompt_text=prompt.text, created_at=T0)
    with mock.patch("generations.tasks.export_job.delay", autospec=True):
        assert viewer_client.get("/export.csv").status_code == 302
    assert ExportJob.objects.count() == 1


# --- Who gets the file ------------------------------------------------------------------------


@pytest.fixture
def ready_job(viewer, rows):
    export = exports.export_of_gallery(filters=gallery.Filters(), order="newest", fmt="csv", query_string="")
    with mock.patch("generations.tasks.export_job.delay", autospec=True):
        job = exports.export_request(export=export, user=viewer)
    exports.export_run(job.pk)
    job.refresh_from_db()
    return job


def test_the_requester_sees_the_link_and_downloads_the_file(viewer_client, ready_job):
    html = viewer_client.get("/exports/").content.decode()
    link = f"/exports/{ready_job.code}/download/"
    assert f'href="{link}"' in html and ready_job.filename in html
    response = viewer_client.get(link)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{ready_job.filename}"'
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert len(body_of(response).decode().splitlines()) == 13


def test_nobody_else_gets_it_not_even_through_media(client, other_viewer, superuser, ready_job):
    for someone in (other_viewer, superuser):
        client.force_login(someone)
        assert client.get(f"/exports/{ready_job.code}/download/").status_code == 404
        assert ready_job.filename not in client.get("/exports/").content.decode()
        assert client.get(f"/media/{ready_job.file.name}").status_code == 404
    client.logout()
    assert client.get(f"/exports/{ready_job.code}/download/")["Location"].startswith("/login/")


def test_an_unfinished_export_has_no_download(viewer_client, viewer):
    job = ExportJob.objects.create(requested_by=viewer, kind="gallery", fmt="csv", filename="x.csv")
    assert viewer_client.get(f"/exports/{job.code}/download/").status_code == 404


# --- The limit ----------------------------------------------------------------------------------


def test_the_export_limit_refuses_with_429(viewer_client, rows, settings):
    settings.EXPORT_LIMIT = "3/h"
    settings.EXPORT_INLINE_MAX_ROWS = 5
    with mock.patch("generations.tasks.export_job.delay", autospec=True):
        answers = [viewer_client.get(url) for url in ("/export.csv", "/export.json?status=failed", "/export.json")]
        refused = viewer_client.get("/export.csv")
    assert [a.status_code for a in answers] == [302, 200, 302]
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    html = refused.content.decode()
    assert "Export limit reached" in html and "Each person may ask for 3 exports an hour" in html
    assert ExportJob.objects.count() == 2  # the refused one made nothing


@pytest.mark.django_db(transaction=True)
def test_parallel_export_requests_cannot_pass_the_limit(viewer, settings):
    """Twelve requests at once against a limit of 4: exactly 4 answered (PostgreSQL and Redis in CI)."""
    settings.EXPORT_LIMIT = "4/h"
    barrier = threading.Barrier(12)
    statuses = []

    def ask():
        try:
            client = Client()
            client.force_login(viewer)
            barrier.wait()
            response = client.get("/export.csv")
            body_of(response)
            statuses.append(response.status_code)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 4 + [429] * 8


# --- A real worker ------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_writes_the_file_the_inline_export_gives(basic_worker, client, viewer, make, settings):
    made = [make(T0 + timedelta(minutes=n), [S.COMPLETED, S.FAILED][n % 2]) for n in range(9)]
    library.generations_tag(generations=made[:5], name="hero")
    library.favourites_bulk_add(user=viewer, generations=made[2:])
    client.force_login(viewer)
    for url, fmt in (
        ("/export.csv?favourites=on&sort=oldest", "csv"),
        ("/export.json?tag=hero&status=completed", "json"),
    ):
        settings.EXPORT_INLINE_MAX_ROWS = 100
        inline = body_of(client.get(url))
        settings.EXPORT_INLINE_MAX_ROWS = 2
        response = client.get(url, follow=True)
        assert f"The {fmt.upper()} file is being written in the background" in response.content.decode()
        job = ExportJob.objects.latest("id")
        wait_until(
            lambda job=job: ExportJob.objects.filter(pk=job.pk, status__in=["ready", "failed"]).exists(),
            timeout=60,
            what=f"the worker finishing export {job.code} (see test-output/basic-worker.log)",
        )
        job.refresh_from_db()
        assert job.status == "ready", job.error
        page = client.get("/exports/")
        assert f'href="/exports/{job.code}/download/"' in page.content.decode() and "Refresh" not in page
        downloaded = body_of(client.get(f"/exports/{job.code}/download/"))
        same_manifest(fmt, inline, downloaded)
        default_storage.delete(job.file.name)
