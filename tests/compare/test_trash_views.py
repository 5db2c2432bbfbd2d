"""The trash page: who may see it, restoring one or a selection, and trashing one from the gallery."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client

from generations.models import Generation

from .conftest import T0, S

pytestmark = pytest.mark.django_db


@pytest.fixture
def trashed(make, generator):
    """Three trashed videos, trashed an hour apart (the last one most recently)."""
    return [
        make(T0, prompt_text=f"Trashed video {n}.", trashed_at=T0 + timedelta(hours=n), trashed_by=generator)
        for n in range(3)
    ]


def test_anonymous_is_sent_to_the_login_page_everywhere(client, make, trashed):
    g = make(T0)
    gets = ["/trash/", f"/compare/?ids={g.code},{trashed[0].code}", f"/compare/variations/{g.code}/"]
    posts = ["/trash/restore/", f"/generations/{g.code}/trash/", "/compare/pick/"]
    for url in gets:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url
    for url in posts:
        response = client.post(url, {"restore": str(trashed[0].code), "ids": "", "pick": ""})
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url
    assert Generation.objects.filter(trashed_at__isnull=False).count() == 3


def test_viewers_and_staff_are_forbidden_generators_see_the_trash(
    client, viewer, generator, django_user_model, trashed
):
    client.force_login(viewer)
    assert client.get("/trash/").status_code == 403
    assert client.post("/trash/restore/", {"restore": str(trashed[0].code)}).status_code == 403
    assert client.post(f"/generations/{trashed[0].code}/trash/").status_code == 403
    assert Generation.objects.filter(trashed_at__isnull=False).count() == 3

    client.force_login(generator)
    assert client.get("/trash/").status_code == 200
    # Staff status alone grants nothing in the gallery (generations/permissions.py).
    staff = django_user_model.objects.create_user("stan", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/trash/").status_code == 403


def test_the_trash_lists_newest_trashed_first_with_who_when_and_the_purge_date(
    generator_client, trashed, make, settings
):
    settings.TRASH_RETENTION_DAYS = 7
    make(T0, prompt_text="Still in the gallery.")
    response = generator_client.get("/trash/")
    html = response.content.decode()
    assert [g.pk for g, _ in response.context["items"]] == [trashed[2].pk, trashed[1].pk, trashed[0].pk]
    assert "Still in the gallery." not in html
    assert html.index("Trashed video 2.") < html.index("Trashed video 0.")
    assert "gene" in html
    expires = trashed[0].trashed_at + timedelta(days=7)
    assert response.context["items"][2][1] == expires
    assert f"{expires:%Y-%m-%d %H:%M}" in html
    assert "manage.py purge_trash" in html and "7 days" in html


def test_an_empty_trash_says_so(generator_client):
    assert "The trash is empty." in generator_client.get("/trash/").content.decode()


def test_restore_one(generator_client, trashed):
    response = generator_client.post(
        "/trash/restore/", {"restore": str(trashed[1].code), "selected": [str(trashed[0].code)]}
    )
    assert response.status_code == 302 and response["Location"] == "/trash/"
    # The pressed button wins over the ticked boxes.
    assert list(Generation.objects.filter(trashed_at__isnull=True)) == [trashed[1]]
    trashed[1].refresh_from_db()
    assert trashed[1].trashed_by is None
    assert "Restored 1 video to the gallery." in generator_client.get("/trash/").content.decode()


def test_restore_a_selection(generator_client, trashed):
    selection = [str(trashed[0].code), str(trashed[2].code), "junk", str(uuid.uuid4())]
    generator_client.post("/trash/restore/", {"selection": "1", "selected": selection})
    assert set(Generation.objects.filter(trashed_at__isnull=True)) == {trashed[0], trashed[2]}
    assert "Restored 2 videos" in generator_client.get("/trash/").content.decode()


def test_restore_nothing_ticked_says_so(generator_client, trashed):
    response = generator_client.post("/trash/restore/", {"selection": "1"}, follow=True)
    assert "tick the videos to restore first" in response.content.decode()
    assert not Generation.objects.filter(trashed_at__isnull=True).exists()


def test_restore_needs_post_and_csrf(generator, trashed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(generator)
    assert client.get("/trash/restore/").status_code == 405
    assert client.post("/trash/restore/", {"restore": str(trashed[0].code)}).status_code == 403
    assert not Generation.objects.filter(trashed_at__isnull=True).exists()


def test_trash_one_ended_generation(generator_client, generator, make):
    g = make(T0)
    response = generator_client.post(f"/generations/{g.code}/trash/", follow=True)
    assert response.redirect_chain == [("/", 302)]
    g.refresh_from_db()
    assert g.trashed_at is not None and g.trashed_by == generator
    assert "moved to the trash" in response.content.decode()
    assert g not in response.context["page"].items  # gone from the gallery


def test_trash_one_running_generation_is_skipped_with_the_reason(generator_client, make):
    running = make(T0, S.IN_PROGRESS)
    response = generator_client.post(f"/generations/{running.code}/trash/", follow=True)
    running.refresh_from_db()
    assert running.trashed_at is None
    assert "was not moved to the trash: still in progress; cancel it first." in response.content.decode()


def test_trash_one_already_trashed_or_unknown(generator_client, trashed):
    response = generator_client.post(f"/generations/{trashed[0].code}/trash/", follow=True)
    assert "already in the trash" in response.content.decode()
    assert generator_client.post(f"/generations/{uuid.uuid4()}/trash/").status_code == 404
    assert generator_client.get(f"/generations/{trashed[0].code}/trash/").status_code == 405
