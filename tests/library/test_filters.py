"""The library's gallery filters (favourites, tag, collection, rating, picks) and the
best-rated-first sort, walked page by page in both directions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from generations import gallery, library
from generations.models import Generation

from .conftest import T0

pytestmark = pytest.mark.django_db


def _codes(response) -> list[str]:
    return [str(g.code) for g in response.context["page"].items]


def test_each_filter_on_the_gallery_page(viewer_client, viewer, generator, make, collection):
    a, b, c, d = (make(T0 + timedelta(minutes=i)) for i in range(4))
    library.favourite_set(user=viewer, generation=a)
    library.favourite_set(user=generator, generation=b)  # someone else's star is not mine
    library.generations_tag(generations=[b, c], name="Hero")
    library.collection_add(collection=collection, generations=[c, d], user=viewer)
    library.generation_rate(generation=a, rating=5)
    library.generation_rate(generation=b, rating=3)
    Generation.objects.filter(pk=d.pk).update(is_pick=True)

    cases = {
        "favourites=1": [a],
        "tag=hero": [c, b],
        f"collection={collection.code}": [d, c],
        "rating=4": [a],
        "rating=3": [b, a],
        "picks=on": [d],
        f"tag=HERO&collection={collection.code}": [c],
    }
    for query, expected in cases.items():
        response = viewer_client.get(f"/?{query}")
        assert response.status_code == 200
        assert _codes(response) == [str(g.code) for g in expected], query
        assert response.context["filtered"]


def test_filters_ignore_trashed_videos(viewer, make):
    g = make()
    library.favourite_set(user=viewer, generation=g)
    Generation.objects.filter(pk=g.pk).update(trashed_at=T0)
    page = gallery.generation_page(gallery.Filters(favourites_of=viewer.pk))
    assert page.items == []


@pytest.fixture
def rated(make):
    # 30 rows: ratings None..5 with many ties, on few timestamps, in a shuffled id order.
    rows = []
    for i in range(30):
        g = make(T0 + timedelta(seconds=(i * 7) % 3))
        rating = [None, 1, 2, 3, 4, 5][(i * 5) % 6]
        if rating:
            library.generation_rate(generation=g, rating=rating)
        rows.append(g)
    return rows


def _expected() -> list[int]:
    rows = list(Generation.objects.all())
    rows.sort(key=lambda g: (g.rating or 0, g.created_at, g.id), reverse=True)
    return [g.id for g in rows]


@pytest.mark.parametrize("size", [1, 4, 7, 30, 31])
def test_rating_sort_walks_every_row_once_best_first_unrated_last(rated, size):
    pages, after = [], None
    while True:
        page = gallery.generation_page(gallery.Filters(), order=gallery.RATING, after=after, size=size)
        pages.append([g.id for g in page.items])
        if not page.next_cursor:
            break
        after = page.next_cursor
    flat = [pk for p in pages for pk in p]
    assert flat == _expected()
    assert Generation.objects.get(id=flat[-1]).rating is None
    assert all(len(p) == size for p in pages[:-1])

    # And back again with `before`: the same pages, in reverse.
    back, before = [], page.prev_cursor
    while before:
        page = gallery.generation_page(gallery.Filters(), order=gallery.RATING, before=before, size=size)
        back.append([g.id for g in page.items])
        before = page.prev_cursor
    assert back[::-1] == pages[:-1]


def test_rating_sort_combines_with_the_rating_filter_and_the_gallery_page(viewer_client, rated):
    response = viewer_client.get("/?sort=rating&rating=4")
    ids = [g.id for g in response.context["page"].items]
    assert ids == [pk for pk in _expected() if Generation.objects.get(id=pk).rating in (4, 5)][: gallery.PAGE_SIZE]
    assert response.status_code == 200


def test_a_newest_cursor_given_to_the_rating_sort_counts_as_absent(rated):
    newest = gallery.generation_page(gallery.Filters(), size=3)
    page = gallery.generation_page(gallery.Filters(), order=gallery.RATING, after=newest.next_cursor, size=3)
    assert [g.id for g in page.items] == _expected()[:3]
