"""A generation in the trash is gone for viewers: its page, its download, its video and poster
files (/media/ in embedded mode) answer 404, and compare, the exports, ZIPs and the status
feed leave it out. Those who may restore it (generators, superusers) still open its page,
with a notice and a Restore button (generations.permissions.can_see_generation)."""

from __future__ import annotations

import pytest
from django.test import Client

from generations.models import Generation
from tests.conftest import team_member
from tests.security.test_access import no_workers, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
NOTICE = "This video is in the trash"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def urls_of(generation: Generation) -> dict[str, str]:
    return {
        "page": f"/generations/{generation.code}/",
        "download": f"/generations/{generation.code}/download/",
        "video": f"/media/{generation.video.name}",
        "poster": f"/media/{generation.poster.name}",
    }


def body_of(response) -> str:
    return (b"".join(response.streaming_content) if response.streaming else response.content).decode()


def test_a_viewer_gets_404_for_everything_of_a_trashed_generation(viewer, world):  # noqa: F811
    client = logged_in(viewer)
    # The same URLs of a generation that is not in the trash work: the 404s below are the trash's.
    for what, url in urls_of(world["completed"]).items():
        assert client.get(url).status_code == 200, what
    for what, url in urls_of(world["trashed"]).items():
        response = client.get(url)
        assert response.status_code == 404, f"{what}: {url}"
        assert NOTICE not in response.content.decode()


def test_compare_exports_zips_and_the_status_feed_leave_it_out(viewer, world):  # noqa: F811
    client = logged_in(viewer)
    completed, trashed = world["completed"], world["trashed"]
    compare = client.get(f"/compare/?ids={completed.code},{trashed.code}")
    assert compare.status_code == 400
    assert trashed.video.name not in compare.content.decode()
    exported = body_of(client.get("/export.json"))
    assert str(completed.code) in exported and str(trashed.code) not in exported
    assert str(trashed.code) not in body_of(client.get(f"/collections/{world['collection'].code}/export.json"))
    feed = client.get(f"/generations/status.json?ids={completed.code},{trashed.code}").json()
    assert [row["code"] for row in feed["generations"]] == [str(completed.code)]
    zipped = client.post("/bulk/", {"action": "zip", "codes": [str(trashed.code)]})
    assert zipped.status_code == 302  # "Select at least one video first": nothing to zip


@pytest.mark.parametrize("who", ["generator", "superuser"])
def test_who_may_restore_it_sees_it_with_a_restore_notice(who, generator, superuser, world):  # noqa: F811
    client = logged_in({"generator": generator, "superuser": superuser}[who])
    trashed = world["trashed"]
    urls = urls_of(trashed)
    page = client.get(urls["page"])
    assert page.status_code == 200
    text = page.content.decode()
    assert NOTICE in text and "by alice" in text
    assert f'name="restore" value="{trashed.code}"' in text
    for what in ("download", "video", "poster"):
        assert client.get(urls[what]).status_code == 200, what
    # The notice's button restores it.
    restored = client.post("/trash/restore/", {"restore": str(trashed.code)})
    assert restored.status_code == 302
    trashed.refresh_from_db()
    assert trashed.trashed_at is None
    assert NOTICE not in client.get(urls["page"]).content.decode()


def test_staff_status_alone_does_not_open_it(django_user_model, world):  # noqa: F811
    # A staff viewer (admin access, viewer role) is still a viewer in the gallery.
    staff_viewer = team_member(django_user_model, "stan", "viewer", is_staff=True)
    client = logged_in(staff_viewer)
    for what, url in urls_of(world["trashed"]).items():
        assert client.get(url).status_code == 404, what


def test_restoring_it_gives_it_back_to_viewers(viewer, generator, world):  # noqa: F811
    trashed = world["trashed"]
    logged_in(generator).post("/trash/restore/", {"restore": str(trashed.code)})
    client = logged_in(viewer)
    for what, url in urls_of(trashed).items():
        assert client.get(url).status_code == 200, what


def test_a_source_image_stays_served_whatever_is_in_the_trash(viewer, world):  # noqa: F811
    # The trashed generation's source image is shared with others: it is not the trash's to hide.
    client = logged_in(viewer)
    assert client.get(f"/media/{world['image'].file.name}").status_code == 200
