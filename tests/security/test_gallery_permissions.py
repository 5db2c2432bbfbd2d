"""Staff status grants nothing in the gallery: the trash (move to it, restore, bulk move) needs
the generator role, decided in one place, generations/permissions.py.

stan is staff with no group, stella a staff viewer, vera a viewer, gene a generator.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import Client
from django.utils import timezone

from generations import permissions
from generations.models import Collection, Generation
from tests.conftest import T0, generation_rows, team_member

pytestmark = pytest.mark.django_db
S = Generation.Status


@pytest.fixture
def make(source_image, prompt):
    return generation_rows(source_image, prompt, default_status=S.COMPLETED)


@pytest.fixture
def videos(make, generator):
    """An ended video in the gallery and one in the trash."""
    done = make(T0, prompt_text="Finished, in the gallery.")
    binned = make(T0, prompt_text="In the trash.", trashed_at=timezone.now() - timedelta(hours=1), trashed_by=generator)
    return done, binned


@pytest.fixture
def stan(django_user_model):
    return django_user_model.objects.create_user("stan", "stan@example.com", "stan-password", is_staff=True)


@pytest.fixture
def stella(django_user_model):
    return team_member(django_user_model, "stella", "viewer", is_staff=True)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def trash_attempts(done: Generation, binned: Generation) -> list[tuple[str, dict]]:
    return [
        (f"/generations/{done.code}/trash/", {}),
        ("/trash/restore/", {"restore": str(binned.code)}),
        ("/trash/restore/", {"selected": [str(binned.code)]}),
        ("/bulk/", {"action": "trash", "codes": [str(done.code)]}),
    ]


def trash_state() -> list[tuple]:
    return list(Generation.objects.order_by("pk").values_list("pk", "trashed_at", "trashed_by"))


@pytest.mark.parametrize("who", ["stan", "stella"])
def test_staff_without_the_generator_role_cannot_trash_restore_or_bulk_trash(request, who, videos):
    client = logged_in(request.getfixturevalue(who))
    before = trash_state()
    for url, data in trash_attempts(*videos):
        response = client.post(url, data)
        assert response.status_code == 403, f"{who}: {url} {data}: {response.status_code}"
    assert client.get("/trash/").status_code == 403
    assert trash_state() == before


def test_the_refusal_says_why(stella, videos):
    response = logged_in(stella).post(f"/generations/{videos[0].code}/trash/")
    assert response.status_code == 403
    assert "Only generators may use the trash (staff status alone does not)." in response.text


def test_staff_with_no_role_does_not_see_the_gallery_at_all(stan, videos):
    client = logged_in(stan)
    for url in ("/", f"/generations/{videos[0].code}/", "/collections/"):
        assert client.get(url).status_code == 403, url


def test_a_staff_viewer_sees_no_trash_button_or_link_but_the_admin_link(stella, videos):
    client = logged_in(stella)
    done = videos[0]
    gallery = client.get("/").text
    detail = client.get(f"/generations/{done.code}/").text
    assert 'value="trash"' not in gallery  # the bulk bar's button
    assert 'href="/trash/"' not in gallery  # the nav link
    assert f"/generations/{done.code}/trash/" not in detail
    assert "Move to trash" not in gallery + detail
    assert 'href="/admin/"' in gallery  # staff status does open the admin's door


def test_a_generator_sees_and_uses_them_so_the_refusals_above_mean_something(generator_client, generator, videos):
    done, binned = videos
    gallery = generator_client.get("/").text
    detail = generator_client.get(f"/generations/{done.code}/").text
    assert 'value="trash"' in gallery and 'href="/trash/"' in gallery
    assert f"/generations/{done.code}/trash/" in detail
    assert 'href="/admin/"' not in gallery  # not staff
    for url, data in trash_attempts(done, binned)[:2]:
        assert generator_client.post(url, data).status_code == 302, url
    done.refresh_from_db()
    binned.refresh_from_db()
    assert done.trashed_by == generator and binned.trashed_at is None


def test_the_trash_button_shows_only_for_an_ended_video(generator_client, make):
    running = make(T0, S.IN_PROGRESS)
    assert f"/generations/{running.code}/trash/" not in generator_client.get(f"/generations/{running.code}/").text


def test_a_staff_generator_and_a_superuser_may_use_the_trash(django_user_model, superuser, videos):
    done, binned = videos
    gina = team_member(django_user_model, "gina", "generator", is_staff=True)
    assert logged_in(gina).post(f"/generations/{done.code}/trash/").status_code == 302
    assert logged_in(superuser).post("/trash/restore/", {"restore": str(binned.code)}).status_code == 302
    assert Generation.objects.filter(trashed_at__isnull=False).get() == done


# --- the rules themselves ----------------------------------------------------------------------


def test_the_rules_per_role(django_user_model, viewer, generator, superuser, stan, stella, alice):
    keeper = team_member(django_user_model, "kim", "viewer")
    keeper.user_permissions.add(Permission.objects.get(codename="change_collection"))
    keeper = django_user_model.objects.get(pk=keeper.pk)  # drop the cached permissions
    inactive = team_member(django_user_model, "ina", "generator", is_active=False)
    vera_s = Collection.objects.create(name="Vera's", owner=viewer)
    orphan = Collection.objects.create(name="Nobody's", owner=None)
    nobody = AnonymousUser()

    def row(user):
        return (
            permissions.can_view(user),
            permissions.can_generate(user),
            permissions.can_trash(user),
            permissions.can_restore(user),
            permissions.can_open_trash(user),
            permissions.can_edit_collection(user, vera_s),
            permissions.can_edit_collection(user, orphan),
            permissions.can_add_to_collection(user, vera_s),
            permissions.can_open_admin(user),
        )

    #                         view   gen    trash  restore tr.page vera's orphan add   admin
    assert row(nobody) == (False, False, False, False, False, False, False, False, False)
    assert row(alice) == (False, False, False, False, False, False, False, False, False)
    assert row(stan) == (False, False, False, False, False, False, False, False, True)
    assert row(stella) == (True, False, False, False, False, False, False, True, True)
    assert row(viewer) == (True, False, False, False, False, True, False, True, False)
    assert row(generator) == (True, True, True, True, True, False, False, True, False)
    assert row(keeper) == (True, False, False, False, False, True, True, True, False)
    assert row(superuser) == (True, True, True, True, True, True, True, True, True)
    assert row(inactive) == (False, False, False, False, False, False, False, False, False)


def test_no_gallery_code_decides_from_is_staff_or_a_permission_string():
    """The rules live in generations/permissions.py; views and templates ask it (the admin's
    own ModelAdmin permission methods and pages are the admin's business)."""
    from pathlib import Path

    from django.conf import settings

    base = Path(settings.BASE_DIR)
    gallery = [
        base / "generations" / name
        for name in ("views.py", "views_library.py", "views_compare.py", "library.py", "trash.py")
    ]
    gallery += [*sorted((base / "templates" / "gallery").glob("*.html")), base / "templates" / "base.html"]
    for path in gallery:
        text = path.read_text()
        for needle in ("is_staff", "has_perm(", "perms.generations", "permission_required("):
            assert needle not in text, f"{path.relative_to(base)} decides a rule itself: {needle}"
