"""A collection is changed (renamed, described, emptied, deleted) only by its owner or by a
collection keeper (a superuser, or a user with generations.change_collection), and every
such change is audited. Anyone in the team may still add videos to it.

olive owns the collection, vera is another viewer, stella a staff viewer (staff status alone
is not a keeper), kim a keeper.
"""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from generations import library
from generations.models import AuditEvent, Collection, CollectionItem, Generation
from tests.conftest import T0, generation_rows, team_member

pytestmark = pytest.mark.django_db
S = Generation.Status
COLLECTION_ACTIONS = [
    AuditEvent.Action.COLLECTION_RENAME,
    AuditEvent.Action.COLLECTION_DESCRIBE,
    AuditEvent.Action.COLLECTION_REMOVE,
    AuditEvent.Action.COLLECTION_DELETE,
]


@pytest.fixture
def olive(django_user_model):
    return team_member(django_user_model, "olive", "viewer")


@pytest.fixture
def stella(django_user_model):
    return team_member(django_user_model, "stella", "viewer", is_staff=True)


@pytest.fixture
def kim(django_user_model):
    user = team_member(django_user_model, "kim", "viewer")
    user.user_permissions.add(Permission.objects.get(codename="change_collection"))
    return user


@pytest.fixture
def videos(source_image, prompt):
    make = generation_rows(source_image, prompt, default_status=S.COMPLETED)
    return [make(T0, prompt_text=f"Video {n}.") for n in range(3)]


@pytest.fixture
def board(olive, videos):
    collection = library.collection_create(name="Olive's board", description="For the client.", owner=olive)
    library.collection_add(collection=collection, generations=videos[:2], user=olive)
    return collection


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def state(collection: Collection) -> tuple:
    row = Collection.objects.filter(pk=collection.pk).values_list("name", "description").first()
    items = list(CollectionItem.objects.filter(collection=collection).values_list("generation_id", flat=True))
    return row, sorted(items)


def audit_rows() -> list[tuple]:
    return list(
        AuditEvent.objects.filter(action__in=COLLECTION_ACTIONS)
        .order_by("id")
        .values_list("action", "actor__username", "generation_id")
    )


def change_attempts(board: Collection, videos) -> list[tuple[str, dict]]:
    return [
        (f"/collections/{board.code}/edit/", {"name": "Renamed", "description": "For the client."}),
        (f"/collections/{board.code}/edit/", {"name": "Olive's board", "description": ""}),
        (f"/collections/{board.code}/remove/", {"generation": str(videos[0].code)}),
        (f"/collections/{board.code}/remove/", {"generation": str(videos[1].code)}),
        (f"/collections/{board.code}/delete/", {}),
    ]


@pytest.mark.parametrize("who", ["viewer", "stella"])
def test_another_viewer_cannot_rename_describe_empty_or_delete_it(request, who, board, videos):
    client = logged_in(request.getfixturevalue(who))
    before = state(board)
    for url, data in change_attempts(board, videos):
        response = client.post(url, data)
        assert response.status_code == 403, f"{who}: {url} {data}: {response.status_code}"
        assert "Only the collection's owner (or someone allowed to change every collection)" in html.unescape(
            response.text
        )
    assert state(board) == before
    assert audit_rows() == []


def test_another_viewer_sees_no_edit_remove_or_delete_controls(viewer, olive, board):
    page = logged_in(viewer).get(f"/collections/{board.code}/").text
    for control in ("/edit/", "/remove/", "/delete/", "Rename or describe", "Remove from this collection"):
        assert control not in page, control
    own = logged_in(olive).get(f"/collections/{board.code}/").text
    for control in ("/edit/", "/remove/", "/delete/", "Rename or describe", "Remove from this collection"):
        assert control in own, control


def test_another_viewer_may_still_add_videos_to_it(viewer, board, videos):
    client = logged_in(viewer)
    response = client.post(f"/generations/{videos[2].code}/collections/", {"collection": str(board.code)})
    assert response.status_code == 302
    response = client.post(
        "/bulk/", {"action": "collection", "codes": [str(videos[2].code)], "new_collection": "olive's BOARD"}
    )
    assert response.status_code == 302
    assert CollectionItem.objects.filter(collection=board).count() == 3


def test_the_owner_renames_describes_removes_and_deletes_each_audited(olive, board, videos):
    client = logged_in(olive)
    assert (
        client.post(f"/collections/{board.code}/edit/", {"name": "Launch", "description": "Final cut."}).status_code
        == 302
    )
    assert client.post(f"/collections/{board.code}/remove/", {"generation": str(videos[0].code)}).status_code == 302
    assert state(board) == (("Launch", "Final cut."), [videos[1].pk])
    assert audit_rows() == [
        ("collection_rename", "olive", None),
        ("collection_describe", "olive", None),
        ("collection_remove", "olive", videos[0].pk),
    ]
    rename, describe, remove = AuditEvent.objects.filter(action__in=COLLECTION_ACTIONS).order_by("id")
    assert rename.details == {"collection": str(board.code), "before": "Olive's board", "after": "Launch"}
    assert describe.details == {"collection": str(board.code), "before": "For the client.", "after": "Final cut."}
    assert remove.generation_code == videos[0].code and remove.details == {"collection": str(board.code)}

    response = client.post(f"/collections/{board.code}/delete/", follow=True)
    assert response.redirect_chain == [("/collections/", 302)]
    assert "Deleted the collection “Launch”; its 1 video(s) stay in the gallery." in response.text
    assert not Collection.objects.filter(pk=board.pk).exists()
    assert Generation.objects.count() == 3  # the videos stay
    deleted = AuditEvent.objects.get(action=AuditEvent.Action.COLLECTION_DELETE)
    assert deleted.actor == olive
    assert deleted.details == {
        "collection": str(board.code),
        "name": "Launch",
        "owner": "olive",
        "description": "Final cut.",
        "generations": [str(videos[1].code)],
    }


def test_saving_unchanged_or_removing_what_is_not_there_audits_nothing(olive, board, videos):
    client = logged_in(olive)
    client.post(f"/collections/{board.code}/edit/", {"name": "Olive's board", "description": "For the client."})
    client.post(f"/collections/{board.code}/remove/", {"generation": str(videos[2].code)})
    assert audit_rows() == []


@pytest.mark.parametrize("who", ["kim", "superuser"])
def test_a_keeper_or_superuser_may_change_anyones_collection(request, who, board, videos):
    user = request.getfixturevalue(who)
    client = logged_in(user)
    assert client.post(f"/collections/{board.code}/edit/", {"name": "Kept", "description": ""}).status_code == 302
    assert client.post(f"/collections/{board.code}/remove/", {"generation": str(videos[0].code)}).status_code == 302
    assert state(board) == (("Kept", ""), [videos[1].pk])
    assert [action for action, actor, _ in audit_rows()] == [
        "collection_rename",
        "collection_describe",
        "collection_remove",
    ]
    assert {actor for _, actor, _ in audit_rows()} == {user.username}
    assert client.post(f"/collections/{board.code}/delete/").status_code == 302
    assert not Collection.objects.filter(pk=board.pk).exists()


def test_a_collection_whose_owner_is_gone_is_the_keepers(olive, viewer, kim, board):
    olive.delete()
    board.refresh_from_db()
    assert board.owner is None
    assert logged_in(viewer).post(f"/collections/{board.code}/edit/", {"name": "Mine now"}).status_code == 403
    assert logged_in(kim).post(f"/collections/{board.code}/edit/", {"name": "Tidied"}).status_code == 302
    board.refresh_from_db()
    assert board.name == "Tidied"


def test_changes_need_post_and_a_login(client, olive, board):
    for url in (f"/collections/{board.code}/edit/", f"/collections/{board.code}/delete/"):
        response = client.post(url, {"name": "x"})
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
        assert logged_in(olive).get(url).status_code == 405, url
    assert Collection.objects.filter(pk=board.pk).exists()
