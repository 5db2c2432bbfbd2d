"""The compare page: 2–4 videos side by side, the differing inputs marked, choosing the pick."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client

from generations import services
from generations.models import Generation
from tests.conftest import make_image_bytes

from .conftest import T0, S

pytestmark = pytest.mark.django_db


def ids(*generations) -> str:
    return ",".join(str(g.code) for g in generations)


def differing_rows(response) -> set[str]:
    return set(re.findall(r'<tr data-row="([^"]+)" class="differs">', response.content.decode()))


@pytest.fixture
def trio(make):
    """Three seed variations: same image, prompt and settings; different seeds."""
    return [make(T0 + timedelta(minutes=n), seed=10 + n, seed_used=10 + n) for n in range(3)]


def test_two_to_four_videos_are_shown_side_by_side_with_one_set_of_controls(viewer_client, trio, make):
    fourth = make(T0 + timedelta(minutes=9), seed=99, seed_used=99)
    for compared in (trio[:2], trio, [*trio, fourth]):
        response = viewer_client.get(f"/compare/?ids={ids(*compared)}")
        assert response.status_code == 200
        html = response.content.decode()
        assert html.count("data-compare-video") == len(compared)
        assert [g.pk for g in response.context["generations"]] == [g.pk for g in compared]  # the order asked
        assert html.count("data-compare-play") == 1 and html.count("data-compare-scrub") == 1
        assert "generations/compare.js" in html


def test_only_the_rows_that_differ_are_highlighted(viewer_client, make, source_image, prompt):
    a = make(T0, seed=1, seed_used=1)
    b = make(T0 + timedelta(hours=1), seed=2, seed_used=2)
    response = viewer_client.get(f"/compare/?ids={ids(a, b)}")
    assert differing_rows(response) == {"Seed requested", "Seed used"}  # "Created" differs but is not an input

    other_image, _ = services.source_image_ingest(
        file=__import__("io").BytesIO(make_image_bytes(320, 320, colour=(1, 2, 3))), filename="o.png"
    )
    c = make(
        T0,
        seed=1,
        seed_used=1,
        prompt_text="A different prompt.",
        resolution="480p",
        aspect_ratio="9:16",
        duration=10,
        camera_fixed=True,
        enable_safety_checker=False,
        source_image=other_image,
    )
    response = viewer_client.get(f"/compare/?ids={ids(a, c)}")
    assert differing_rows(response) == {
        "Prompt",
        "Aspect ratio",
        "Resolution",
        "Duration",
        "Camera fixed",
        "Safety checker",
        "Source image",
    }
    rows = {row.label: row for row in response.context["rows"]}
    assert rows["Resolution"].values == [a.resolution, "480p"]
    assert rows["Seed requested"].differs is False
    assert "A different prompt." in response.content.decode()


def test_a_random_seed_and_an_unknown_seed_used_read_as_words(viewer_client, make):
    a, b = make(T0), make(T0, seed=5)
    rows = {r.label: r for r in viewer_client.get(f"/compare/?ids={ids(a, b)}").context["rows"]}
    assert rows["Seed requested"].values == ["random", 5] and rows["Seed requested"].differs
    assert rows["Seed used"].values == ["–", "–"] and not rows["Seed used"].differs


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda g: ids(g[0]), "this list has 1"),
        (lambda g: ids(*g), "this list has 5"),
        (lambda g: ids(g[0], g[0]), "this list has 1"),  # the same one twice is one
        (lambda g: "", "this list has 0"),
        (lambda g: f"{g[0].code},not-a-code", "“not-a-code” is not a generation code"),
        (lambda g: f"{g[0].code},{uuid.uuid4()}", "No generation"),
    ],
    ids=["one", "five", "duplicate", "empty", "malformed", "unknown"],
)
def test_bad_id_lists_get_a_400_page_that_explains(viewer_client, make, build, message):
    five = [make(T0 + timedelta(minutes=n)) for n in range(5)]
    response = viewer_client.get(f"/compare/?ids={build(five)}")
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and "2 to 4 generation codes" in html
    assert "data-compare-video" not in html


def test_a_trashed_generation_is_not_compared(viewer_client, trio):
    Generation.objects.filter(pk=trio[1].pk).update(trashed_at=T0)
    assert viewer_client.get(f"/compare/?ids={ids(*trio[:2])}").status_code == 400


def test_marking_the_pick_leaves_exactly_one_among_the_compared(viewer_client, trio, make):
    outsider = make(T0, is_pick=True)  # a pick of another comparison stays one
    url = f"/compare/?ids={ids(*trio)}"
    response = viewer_client.post("/compare/pick/", {"ids": ids(*trio), "pick": str(trio[0].code)})
    assert response.status_code == 302 and response["Location"] == url
    assert [g.pk for g in Generation.objects.filter(pk__in=[g.pk for g in trio], is_pick=True)] == [trio[0].pk]

    response = viewer_client.post("/compare/pick/", {"ids": ids(*trio), "pick": str(trio[2].code)}, follow=True)
    assert [g.pk for g in Generation.objects.filter(pk__in=[g.pk for g in trio], is_pick=True)] == [trio[2].pk]
    outsider.refresh_from_db()
    assert outsider.is_pick is True
    html = response.content.decode()
    assert "is now the pick of these 3" in html
    assert html.count("data-pick-badge") == 1
    assert html.count("★ the pick") == 1  # the table's Pick row
    assert html.count('name="pick"') == 2  # the two others keep their button


def test_the_pick_must_be_one_of_the_compared_and_completed(viewer_client, trio, make):
    outsider = make(T0)
    response = viewer_client.post("/compare/pick/", {"ids": ids(*trio[:2]), "pick": str(outsider.code)})
    assert response.status_code == 400
    failed = make(T0, S.FAILED)
    response = viewer_client.post("/compare/pick/", {"ids": ids(trio[0], failed), "pick": str(failed.code)})
    assert response.status_code == 302
    assert not Generation.objects.filter(is_pick=True).exists()
    assert viewer_client.post("/compare/pick/", {"ids": ids(trio[0]), "pick": str(trio[0].code)}).status_code == 400


def test_marking_the_pick_is_a_post_with_a_csrf_token(viewer, trio):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    data = {"ids": ids(*trio[:2]), "pick": str(trio[1].code)}
    assert client.get("/compare/pick/", data).status_code == 405
    assert client.post("/compare/pick/", data).status_code == 403
    assert not Generation.objects.filter(is_pick=True).exists()

    page = client.get(f"/compare/?ids={ids(*trio[:2])}")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    assert client.post("/compare/pick/", {**data, "csrfmiddlewaretoken": token}).status_code == 302
    assert list(Generation.objects.filter(is_pick=True)) == [trio[1]]


def test_variations_redirects_to_up_to_four_of_the_same_image_and_prompt_newest_first(viewer_client, make):
    same = [make(T0 + timedelta(minutes=n), seed=n) for n in range(5)]
    make(T0 + timedelta(hours=1), prompt_text="Another prompt.")  # different prompt text
    make(T0 + timedelta(hours=2), S.FAILED)  # not a video
    make(T0 + timedelta(hours=3), trashed_at=T0)  # in the trash
    response = viewer_client.get(f"/compare/variations/{same[0].code}/")
    assert response.status_code == 302
    # The one asked for, plus the three newest others, newest first.
    assert response["Location"] == f"/compare/?ids={ids(same[4], same[3], same[2], same[0])}"
    assert viewer_client.get(response["Location"]).status_code == 200


def test_variations_without_others_goes_back_to_the_detail_page(viewer_client, make):
    alone = make(T0)
    response = viewer_client.get(f"/compare/variations/{alone.code}/", follow=True)
    assert response.redirect_chain[0][0] == f"/generations/{alone.code}/"
    assert "no other completed videos" in response.content.decode()
    assert viewer_client.get(f"/compare/variations/{uuid.uuid4()}/").status_code == 404


def test_a_user_without_view_permission_is_forbidden(client, alice, trio):
    client.force_login(alice)
    assert client.get(f"/compare/?ids={ids(*trio[:2])}").status_code == 403
    assert client.post("/compare/pick/", {"ids": ids(*trio[:2]), "pick": str(trio[0].code)}).status_code == 403
    assert client.get(f"/compare/variations/{trio[0].code}/").status_code == 403
    assert not Generation.objects.filter(is_pick=True).exists()
