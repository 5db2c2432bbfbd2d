"""Who gets in where: every URL the app answers, walked from the URL resolver, and what a
viewer may not do through the gallery and the admin (nothing changes in the database).

Nothing reaches Celery or fal: the task and fal seams are replaced, and asserted unused.
"""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from generations import library, services
from generations.models import (
    AuditEvent,
    Batch,
    Budget,
    Collection,
    CollectionItem,
    Favourite,
    Generation,
    Prompt,
    SourceImage,
    Tag,
)
from tests.conftest import make_image_bytes, team_member

pytestmark = pytest.mark.django_db
S = Generation.Status

# Open to anyone, on purpose: fal's signed webhook, the load balancers' health check, the two
# login pages and logging out (test_the_public_routes).
PUBLIC = {"fal-webhook", "healthz", "login", "logout", "admin:login", "admin:logout"}
PUBLIC_PATHS = {"/admin/login/"}  # the admin login behind the rate limit (generations/ratelimits.py)


# --- the objects every route is filled with ----------------------------------------------------


@pytest.fixture
def no_workers():
    with (
        mock.patch("generations.tasks.submit_generation.delay", autospec=True) as submit,
        mock.patch("generations.pipeline._schedule_poll", autospec=True) as poll,
        mock.patch("generations.pipeline._schedule_archive", autospec=True) as archive,
        mock.patch("generations.fal_gateway.cancel", autospec=True, return_value=True) as fal_cancel,
    ):
        yield [submit, poll, archive, fal_cancel]
    # (asserted by the tests that need it)


@pytest.fixture
def world(db, alice, no_workers):
    """One of everything, with generations in each state an action applies to."""
    image, _ = services.source_image_ingest(
        file=ContentFile(make_image_bytes(400, 300)), filename="hills.png", uploaded_by=alice
    )
    prompt, _ = services.prompt_get_or_create(text="A secret-free slow zoom over the hills.", created_by=alice)

    def make(status, **fields):
        generation = services.generation_create(
            source_image=image,
            prompt=prompt,
            params=services.GenerationParams(resolution="480p", duration=5),
            requested_by=alice,
            submit=False,
        )
        if status == S.COMPLETED:
            generation.video.save("v.mp4", ContentFile(b"\x00\x00\x00\x18ftypmp42 video"), save=False)
            generation.poster.save("p.jpg", ContentFile(b"\xff\xd8\xff poster"), save=False)
            fields = {
                "video": generation.video.name,
                "poster": generation.poster.name,
                "video_sha256": "a" * 64,
                "seed_used": 7,
                **fields,
            }
        if status != S.PENDING:
            fields.setdefault("fal_request_id", f"req-{generation.code}")
        if status in (S.FAILED, S.CANCELLED):
            fields.setdefault("cost", 0)
        Generation.objects.filter(pk=generation.pk).update(status=status, **fields)
        generation.refresh_from_db()
        return generation

    batch = Batch.objects.create(owner=alice, note="b")
    completed = make(S.COMPLETED, batch=batch)
    pending = make(S.PENDING)
    running = make(S.IN_PROGRESS)
    failed = make(S.FAILED, fal_video_url="https://v3.fal.media/files/x/video.mp4", error_code="archive_failed")
    cancelled = make(S.CANCELLED)
    trashed = make(S.COMPLETED, trashed_at=timezone.now() - timedelta(days=1), trashed_by=alice)
    collection = library.collection_create(name="Alice's board", owner=alice)
    library.collection_add(collection=collection, generations=[completed], user=alice)
    library.generations_tag(generations=[completed], name="hills")
    library.favourite_set(user=alice, generation=completed)
    AuditEvent.objects.create(action=AuditEvent.Action.GENERATE, actor=alice, message="m")
    return {
        "image": image,
        "prompt": prompt,
        "batch": batch,
        "completed": completed,
        "pending": pending,
        "running": running,
        "failed": failed,
        "cancelled": cancelled,
        "trashed": trashed,
        "collection": collection,
        "budget": Budget.current(),
        "alice": alice,
    }


def snapshot() -> dict:
    """Every row an action could change, whole."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            Generation,
            SourceImage,
            Prompt,
            Batch,
            Budget,
            AuditEvent,
            Collection,
            CollectionItem,
            Favourite,
            Tag,
            Generation.tags.through,
            LogEntry,
        )
    }


# --- every route, filled in -------------------------------------------------------------------


def routes() -> list[tuple[str, str]]:
    """(route as written, URL name) of every URL pattern, includes flattened."""

    def walk(patterns, prefix: str, namespace: str):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner or namespace)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or ""
                yield prefix + str(entry.pattern), name

    return list(walk(get_resolver().url_patterns, "", ""))


ADMIN_MODELS = {
    "generation": "completed",
    "sourceimage": "image",
    "prompt": "prompt",
    "batch": "batch",
    "budget": "budget",
    "collection": "collection",
}


def fill(route: str, world: dict) -> str:
    """A real URL for the route: converters filled with real objects' codes and ids."""
    url = "/" + route.replace("^", "").replace("$", "")
    model = re.match(r"/admin/(\w+)/(\w+)/", url)
    if model and model.group(2) in ADMIN_MODELS:
        object_id = str(world[ADMIN_MODELS[model.group(2)]].pk)
    elif model and model.group(2) == "auditevent":
        object_id = str(AuditEvent.objects.first().pk)
    elif model and model.group(2) == "group":
        object_id = str(Group.objects.get(name="viewer").pk)
    else:
        object_id = str(world["alice"].pk)
    if url.startswith("/images/"):
        code = world["image"].code
    elif url.startswith("/prompts/"):
        code = world["prompt"].code
    elif url.startswith("/collections/"):
        code = world["collection"].code
    else:
        code = world["completed"].code
    values = {
        "code": str(code),
        "object_id": object_id,
        "id": str(world["alice"].pk),
        "content_type_id": str(ContentType.objects.get_for_model(Generation).pk),
        "name": "cancel_selected",
        "app_label": "generations",
        "url": "no-such-page/",
    }
    if url.startswith("/media/"):
        values["name"] = world["completed"].video.name
    url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m.group(1)], url)  # re_path groups
    url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], url)  # path converters
    assert "<" not in url and "(" not in url, url
    return url


def test_the_walk_covers_the_whole_app():
    names = {name for _, name in routes()}
    for expected in ("gallery", "image-upload", "library-bulk", "trash-restore", "admin:generations_generation_run"):
        assert expected in names
    assert "dashboard" in names and "collection-edit" in names


def refuses_anonymous(response, url: str) -> bool:
    if response.status_code == 302:
        location = response["Location"]
        return location.startswith(("/login/?next=", "/admin/login/?next="))
    return response.status_code in (401, 403, 404)


def test_anonymous_gets_nothing_but_a_login_page_anywhere(world, client):
    secrets_of_the_library = [world["prompt"].text, "hills.png", "Alice's board", str(world["completed"].code)]
    before = snapshot()
    checked = 0
    for route, name in routes():
        if name in PUBLIC:
            continue
        url = fill(route, world)
        if url in PUBLIC_PATHS:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert refuses_anonymous(response, url), f"{method.upper()} {url} ({name}): {response.status_code}"
            if response.status_code != 302:
                body = response.content.decode(errors="replace")
                for secret in secrets_of_the_library:
                    assert secret not in body, f"{method.upper()} {url} shows {secret!r}"
            checked += 1
    assert checked > 150
    assert snapshot() == before


def test_the_public_routes(world, client):
    assert client.post("/webhooks/fal", data=b"{}", content_type="application/json").status_code == 401
    assert client.get("/webhooks/fal").status_code == 405
    health = client.get("/healthz")
    assert health.status_code in (200, 503) and set(health.json()["checks"]) == {"database", "broker", "storage"}
    assert client.get("/login/").status_code == 200
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/logout/").status_code == 405  # logging out is a POST
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    for method in ("get", "post"):  # the admin's logout sends a stranger to the admin (then its login)
        response = getattr(client, method)("/admin/logout/")
        assert response.status_code == 302 and response["Location"] == "/admin/"


# --- a viewer may look, not spend, stop or remove -------------------------------------------------


def gallery_attempts(world) -> list[tuple[str, dict]]:
    completed, trashed = world["completed"], world["trashed"]
    upload = SimpleUploadedFile("new.png", make_image_bytes(400, 320, colour=(1, 2, 3)), content_type="image/png")
    return [
        (f"/generations/{completed.code}/remix/", {}),
        ("/images/upload/", {"files": [upload]}),
        (f"/generations/{completed.code}/trash/", {}),
        ("/trash/restore/", {"restore": str(trashed.code)}),
        ("/trash/restore/", {"selected": [str(trashed.code)]}),
        ("/bulk/", {"action": "trash", "codes": [str(completed.code), str(world["failed"].code)]}),
    ]


def admin_attempts(world) -> list[tuple[str, dict]]:
    changelist = reverse("admin:generations_generation_changelist")
    every = [world[k].pk for k in ("completed", "pending", "running", "failed", "cancelled")]
    attempts = [
        (changelist, {"action": action, "_selected_action": every, "index": 0})
        for action in (
            "cancel_selected",
            "retry_selected",
            "remix_selected",
            "remix_with_edited_prompt",
            "retry_archive_selected",
        )
    ]
    attempts += [
        (changelist, {"action": "delete_selected", "_selected_action": every, "index": 0, "post": "yes"}),
        (
            reverse("admin:generations_generation_generate"),
            {
                "images": [world["image"].pk],
                "typed_prompts": "A new video",
                "aspect_ratio": "16:9",
                "resolution": "480p",
                "duration": 5,
                "variations": 1,
                "_generate": "1",
            },
        ),
        (
            reverse("admin:generations_generation_generate"),
            {"images": [world["image"].pk], "remix_of": str(world["completed"].code), "_generate": "1"},
        ),
        (reverse("admin:generations_generation_delete", args=[world["completed"].pk]), {"post": "yes"}),
        (reverse("admin:generations_budget_change", args=[world["budget"].pk]), {"monthly_team_cap": "1"}),
        (reverse("admin:generations_sourceimage_change", args=[world["image"].pk]), {"title": "renamed"}),
        (reverse("admin:generations_sourceimage_delete", args=[world["image"].pk]), {"post": "yes"}),
        (reverse("admin:generations_prompt_delete", args=[world["prompt"].pk]), {"post": "yes"}),
        (reverse("admin:generations_batch_delete", args=[world["batch"].pk]), {"post": "yes"}),
    ]
    for name, target in [
        ("cancel_selected", "pending"),
        ("cancel_selected", "running"),
        ("retry_selected", "failed"),
        ("remix_selected", "completed"),
        ("retry_archive_selected", "failed"),
        ("delete_selected", "completed"),
    ]:
        url = reverse("admin:generations_generation_run", args=[world[target].pk, name])
        attempts.append((url, {}))
    return attempts


def assert_nothing_happened(before, workers):
    assert snapshot() == before
    for seam in workers:
        seam.assert_not_called()


def test_a_viewer_cannot_spend_stop_or_remove_in_the_gallery(world, viewer_client, no_workers):
    before = snapshot()
    for url, data in gallery_attempts(world):
        response = viewer_client.post(url, data)
        assert response.status_code == 403, f"{url} {data}: {response.status_code}"
    assert viewer_client.get("/trash/").status_code == 403
    assert_nothing_happened(before, no_workers)


def test_a_viewer_who_is_not_staff_never_gets_into_the_admin(world, viewer_client, no_workers):
    before = snapshot()
    for url, data in admin_attempts(world):
        response = viewer_client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    for url in (reverse("admin:index"), reverse("dashboard"), reverse("admin:generations_generation_generate")):
        assert viewer_client.get(url)["Location"].startswith("/admin/login/")
    assert_nothing_happened(before, no_workers)


@pytest.fixture
def staff_viewer_client(django_user_model):
    client = Client()
    client.force_login(team_member(django_user_model, "stella", "viewer", is_staff=True))
    return client


def test_a_staff_viewer_cannot_spend_stop_or_remove_in_the_admin(world, staff_viewer_client, no_workers):
    client = staff_viewer_client
    before = snapshot()
    for url, data in admin_attempts(world):
        response = client.post(url, data)
        if data.get("action"):  # with no action it may run, the changelist ignores the POST and shows the list
            assert response.status_code == 200, f"{url} {data}: {response.status_code}"
            assert not response.context["action_form"], url
        else:
            assert response.status_code == 403, f"{url} {data}: {response.status_code}"
    # The generate page, and the remix form it opens, are refused outright.
    assert client.get(reverse("admin:generations_generation_generate")).status_code == 403
    remix = reverse("admin:generations_generation_generate") + f"?remix={world['completed'].code}"
    assert client.get(remix).status_code == 403
    # The changelist offers no action and the change page no button.
    page = client.get(reverse("admin:generations_generation_changelist")).content.decode()
    for action in ("cancel_selected", "retry_selected", "remix_selected", "retry_archive_selected", "delete_selected"):
        assert f'value="{action}"' not in page
    change = client.get(reverse("admin:generations_generation_change", args=[world["failed"].pk]))
    assert change.status_code == 200
    assert "/run/" not in change.content.decode()
    # The dashboard and the status feed are for looking: allowed.
    assert client.get(reverse("dashboard")).status_code == 200
    assert_nothing_happened(before, no_workers)


def test_the_same_requests_work_for_an_admin_so_the_refusals_above_mean_something(world, client, superuser):
    client.force_login(superuser)
    failed = world["failed"]
    url = reverse("admin:generations_generation_run", args=[failed.pk, "retry_archive_selected"])
    assert client.post(url).status_code == 302
    failed.refresh_from_db()
    assert failed.status == S.ARCHIVING
    response = client.post(f"/generations/{world['completed'].code}/trash/")
    assert response.status_code == 302
    world["completed"].refresh_from_db()
    assert world["completed"].trashed_at is not None


# --- object level: what belongs to one person -------------------------------------------------


def test_favourites_are_each_persons_own(world, viewer_client, viewer):
    completed = world["completed"]  # alice's favourite
    response = viewer_client.post(f"/generations/{completed.code}/favourite/", {"favourite": "0"})
    assert response.status_code == 302
    assert Favourite.objects.filter(user=world["alice"], generation=completed).exists()
    viewer_client.post("/bulk/", {"action": "favourite", "codes": [str(world["failed"].code)]})
    assert set(Favourite.objects.values_list("user__username", "generation")) == {
        ("alice", completed.pk),
        ("vera", world["failed"].pk),
    }
    # "My favourites" shows the viewer's own star only.
    page = viewer_client.get("/?favourites=on").content.decode()
    assert str(world["failed"].code) in page
    assert str(completed.code) not in page


def test_collections_are_assembled_by_the_team_but_changed_by_their_owner(world, viewer_client):
    """Any viewer may add a video to anyone's collection (curation, nothing removed), but
    renaming, describing, emptying or deleting one is its owner's (generations/permissions.py;
    tests/security/test_collection_permissions.py covers each)."""
    collection = world["collection"]
    response = viewer_client.post(f"/collections/{collection.code}/edit/", {"name": "Renamed", "description": ""})
    assert response.status_code == 403
    collection.refresh_from_db()
    assert collection.name == "Alice's board" and collection.owner == world["alice"]
    response = viewer_client.post(
        f"/generations/{world['failed'].code}/collections/", {"collection": str(collection.code)}
    )
    assert response.status_code == 302
    assert collection.generations.filter(pk=world["failed"].pk).exists()
