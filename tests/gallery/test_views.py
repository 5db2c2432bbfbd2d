"""The gallery's pages: who may see and do what, the download, upload, media, status feed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from generations.models import AuditEvent, Budget, Generation, SourceImage
from tests.conftest import make_image_bytes

from .conftest import T0, S

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(generation, source_image, prompt):
    return [
        "/",
        f"/generations/{generation.code}/",
        "/generations/status.json?ids=" + str(generation.code),
        "/images/",
        f"/images/{source_image.code}/",
        "/prompts/",
        f"/prompts/{prompt.code}/",
    ]


def test_anonymous_is_sent_to_the_login_page_everywhere(client, pages, completed_with_files, source_image):
    extra = [
        f"/generations/{completed_with_files.code}/download/",
        f"/generations/{completed_with_files.code}/remix/",
        "/images/upload/",
        f"/media/{completed_with_files.video.name}",
    ]
    for url in pages + extra:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    assert client.post(f"/generations/{completed_with_files.code}/remix/").status_code == 302
    assert not AuditEvent.objects.exists()


def test_the_login_page_logs_a_viewer_in_and_logout_is_a_post(client, viewer):
    assert client.get("/login/").status_code == 200
    response = client.post(
        "/login/?next=/images/", {"username": "vera", "password": "vera-password", "next": "/images/"}
    )
    assert response.status_code == 302 and response["Location"] == "/images/"
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_a_user_without_a_role_is_forbidden(client, alice, pages):
    client.force_login(alice)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 403, url
    assert "Not allowed" in client.get("/").text  # templates/403.html


def test_a_viewer_sees_every_page_but_no_admin_link_or_upload_or_remix(viewer_client, pages):
    for url in pages:
        assert viewer_client.get(url).status_code == 200, url
    gallery = viewer_client.get("/").text
    assert 'href="/admin/"' not in gallery
    assert "simulated fal" in gallery  # no FAL_KEY in tests
    assert 'action="/logout/"' in gallery
    assert "Upload" not in viewer_client.get("/images/").text
    assert "Remix" not in viewer_client.get(pages[1]).text


def test_staff_sees_the_admin_link(client, viewer):
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)
    assert 'href="/admin/"' in client.get("/").text


def test_the_gallery_shows_cards_and_an_empty_state(viewer_client, generator_client, make, db):
    assert "No videos yet" in viewer_client.get("/").text
    response = generator_client.get("/")
    assert "No videos yet — generate one from the" in response.text  # with a link for generators
    g = make(T0, S.IN_QUEUE, queue_position=3)
    text = generator_client.get("/").text
    assert f'href="/generations/{g.code}/"' in text
    assert f'data-status-code="{g.code}" data-finished="false"' in text
    assert "In queue · #3" in text
    assert "5 s · 1080p" in text


def test_detail_shows_inputs_timings_cost_logs_error_and_neighbours(viewer_client, make, generator):
    g = make(
        T0,
        S.FAILED,
        seed=7,
        submitted_at=T0 + timedelta(seconds=2),
        started_at=T0 + timedelta(seconds=12),
        finished_at=T0 + timedelta(seconds=95),
        cost=Decimal("0.1210"),
        cost_note="May be charged",
        error_code="fal_422",
        error_message="The image is too small.",
        fal_logs=[{"timestamp": "2026-03-10T12:00:03.5Z", "level": "INFO", "message": "Loading model"}],
        requested_by=generator,
    )
    sibling = make(T0 - timedelta(hours=1), S.PENDING)
    response = viewer_client.get(f"/generations/{g.code}/")
    text = response.text
    # An error code with no phrase of its own is still said in words.
    assert "Failed: Fal 422" in text and "The image is too small." in text
    assert "May be charged" in text and "$0.1210" in text
    assert "Loading model" in text and "12:00:03.500" in text
    assert "1 min 23 s" in text  # started → finished
    assert response.context["inputs"]["seed"] == 7
    assert 'id="generation-inputs"' in text and "Copy the settings" in text
    assert f'href="/generations/{sibling.code}/"' in text
    assert "Download" not in text  # no video


def test_unknown_codes_are_404(viewer_client):
    for url in (
        "/generations/00000000-0000-0000-0000-000000000000/",
        "/images/00000000-0000-0000-0000-000000000000/",
        "/prompts/00000000-0000-0000-0000-000000000000/",
        "/generations/00000000-0000-0000-0000-000000000000/download/",
    ):
        response = viewer_client.get(url)
        assert response.status_code == 404, url
        assert "Not found" in response.text


def test_status_feed_answers_for_the_asked_codes(viewer_client, make):
    a = make(T0, S.IN_PROGRESS)
    b = make(T0, S.FAILED)
    response = viewer_client.get(
        f"/generations/status.json?ids={a.code},{b.code},junk&ids=00000000-0000-0000-0000-000000000000"
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    got = {item["code"]: item for item in response.json()["generations"]}
    assert got[str(a.code)] == {
        "code": str(a.code),
        "status": "in_progress",
        "label": "In progress",
        "finished": False,
        "queue_position": None,
        "poster": None,
    }
    assert got[str(b.code)]["finished"] is True
    assert len(got) == 2


# --- Query counts ---------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/?status=completed&q=hills", "/images/", "/prompts/"])
def test_list_queries_do_not_grow_with_rows(viewer_client, make, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(5):
        make(T0, S.COMPLETED)
    few = count()
    for _ in range(35):
        make(T0, S.COMPLETED)
    assert count() == few
    assert few <= 6


def test_detail_queries_are_fixed(viewer_client, make):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    g = make(T0, S.COMPLETED)
    for _ in range(10):
        make(T0, S.COMPLETED)
    with CaptureQueriesContext(connection) as ctx:
        viewer_client.get(f"/generations/{g.code}/")
    assert len(ctx.captured_queries) <= 8


# --- Download -------------------------------------------------------------------------


def test_download_streams_the_file_as_an_attachment_and_is_audited(viewer_client, viewer, completed_with_files):
    g = completed_with_files
    response = viewer_client.get(f"/generations/{g.code}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="seedance-{g.code}.mp4"'
    assert b"".join(response.streaming_content) == g.video_bytes_content
    [event] = AuditEvent.objects.all()
    assert event.action == AuditEvent.Action.DOWNLOAD_LINK
    assert event.actor == viewer and event.generation == g and event.cost == g.cost


def test_download_of_a_generation_without_video_is_404(viewer_client, make):
    g = make(T0, S.FAILED)
    assert viewer_client.get(f"/generations/{g.code}/download/").status_code == 404
    assert not AuditEvent.objects.exists()


def test_download_on_s3_redirects_to_a_presigned_attachment_url(s3, settings, viewer_client, make, source_image):
    import urllib.request

    settings.STORAGES = {**settings.STORAGES, "default": s3.storages_settings()}
    g = make(T0, S.COMPLETED)
    from django.core.files.base import ContentFile

    g.video.save("v.mp4", ContentFile(b"mp4-bytes"), save=True)
    response = viewer_client.get(f"/generations/{g.code}/download/")
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(s3.endpoint_url) and "X-Amz-Signature" in url and "X-Amz-Expires=300" in url
    with urllib.request.urlopen(url, timeout=10) as fetched:
        assert fetched.status == 200 and fetched.read() == b"mp4-bytes"
        assert fetched.headers["Content-Disposition"] == f'attachment; filename="seedance-{g.code}.mp4"'
    assert AuditEvent.objects.filter(action="download_link", generation=g).count() == 1
    # Media on S3 is never served by us.
    assert viewer_client.get(f"/media/{g.video.name}").status_code == 404
    g.video.delete(save=False)


# --- Remix ----------------------------------------------------------------------------


def test_viewer_may_not_remix(viewer_client, make):
    g = make(T0, S.COMPLETED)
    assert viewer_client.post(f"/generations/{g.code}/remix/").status_code == 403
    assert Generation.objects.count() == 1


def test_generator_remixes_and_lands_on_the_new_generation(generator_client, generator, make):
    g = make(T0, S.COMPLETED, seed=5)
    assert "Remix" in generator_client.get(f"/generations/{g.code}/").text
    assert generator_client.get(f"/generations/{g.code}/remix/").status_code == 405
    response = generator_client.post(f"/generations/{g.code}/remix/")
    new = Generation.objects.exclude(pk=g.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/generations/{new.code}/"
    assert new.retry_of == g and new.requested_by == generator and new.seed is None
    assert AuditEvent.objects.filter(action="remix", generation=new).exists()


def test_remix_over_budget_says_so(generator_client, make):
    Budget.objects.create(pk=1, monthly_team_cap=Decimal("0.00"))
    g = make(T0, S.COMPLETED)
    response = generator_client.post(f"/generations/{g.code}/remix/", follow=True)
    assert response.redirect_chain[-1][0] == f"/generations/{g.code}/"
    assert "Not remixed: over budget." in response.text
    assert Generation.objects.count() == 1


# --- Upload ---------------------------------------------------------------------------


def test_viewer_may_not_upload(viewer_client):
    png = SimpleUploadedFile("a.png", make_image_bytes(), content_type="image/png")
    assert viewer_client.post("/images/upload/", {"files": [png]}).status_code == 403
    assert not SourceImage.objects.exists()


def test_upload_reports_each_file(generator_client, generator, source_image):
    files = [
        SimpleUploadedFile("new.png", make_image_bytes(500, 400, colour=(1, 2, 3)), content_type="image/png"),
        SimpleUploadedFile("again.png", source_image.file.open("rb").read(), content_type="image/png"),
        SimpleUploadedFile("notes.txt", b"not an image at all", content_type="text/plain"),
    ]
    assert 'enctype="multipart/form-data"' in generator_client.get("/images/").text
    response = generator_client.post("/images/upload/", {"files": files}, follow=True)
    assert response.redirect_chain == [("/images/", 302)]
    shown = [str(m) for m in response.context["messages"]]
    assert shown[0] == "new.png: added."
    assert shown[1] == "again.png: already in the library."
    assert shown[2].startswith("notes.txt: refused — ")
    assert SourceImage.objects.count() == 2
    assert SourceImage.objects.get(original_filename="new.png").uploaded_by == generator
    assert "2 generation" not in response.text and "0 generations" in response.text


def test_upload_without_files_says_so(generator_client):
    response = generator_client.post("/images/upload/", {}, follow=True)
    assert "Choose at least one image." in response.text


# --- Media ----------------------------------------------------------------------------


def test_media_is_served_to_members_only(client, viewer, source_image):
    url = source_image.file.url
    assert url.startswith("/media/source-images/")
    assert client.get(url).status_code == 302
    client.force_login(viewer)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == source_image.file.open("rb").read()


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "source-images/../../secret.txt",
        "%2e%2e/secret.txt",
        "source-images/..%2F..%2Fsecret.txt",
        "missing.png",
        "source-images//x",
        "./x",
    ],
)
def test_media_refuses_traversal_and_missing_files(viewer_client, settings, tmp_path, path):
    (tmp_path / "secret.txt").write_text("top secret")
    response = viewer_client.get(f"/media/{path}")
    assert response.status_code == 404
    assert b"top secret" not in b"".join(getattr(response, "streaming_content", [response.content]))


def test_image_and_prompt_pages_list_their_generations(viewer_client, make, image_b, source_image, prompt):
    mine = make(T0, S.PENDING)
    other = make(T0, S.PENDING, source_image=image_b)
    text = viewer_client.get(f"/images/{source_image.code}/").text
    assert f"/generations/{mine.code}/" in text and f"/generations/{other.code}/" not in text
    text = viewer_client.get("/images/").text
    assert "1 generation" in text
    text = viewer_client.get(f"/prompts/{prompt.code}/").text
    assert f"/generations/{mine.code}/" in text and "Used 2 times" in text
    assert prompt.text[:20] in viewer_client.get("/prompts/?q=SLOW+zoom").text
    assert "No prompts match" in viewer_client.get("/prompts/?q=nothing-like-it").text
