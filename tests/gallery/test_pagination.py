"""Keyset pagination: every row exactly once, in order, across equal timestamps, both ways."""

from __future__ import annotations

from datetime import timedelta

import pytest

from generations import gallery
from generations.models import Generation

from .conftest import T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(make):
    # 30 rows on 4 distinct timestamps (many ties), created in a shuffled id order.
    stamps = [T0 + timedelta(seconds=(i * 7) % 4) for i in range(30)]
    return [make(created_at=stamp) for stamp in stamps]


def _expected(order: str) -> list[int]:
    keys = ("-created_at", "-id") if order == gallery.NEWEST else ("created_at", "id")
    return list(Generation.objects.order_by(*keys).values_list("id", flat=True))


def _walk_forward(order: str, size: int) -> list[list[int]]:
    pages, after = [], None
    while True:
        page = gallery.generation_page(gallery.Filters(), order=order, after=after, size=size)
        pages.append([g.id for g in page.items])
        if not page.next_cursor:
            return pages
        after = page.next_cursor


@pytest.mark.parametrize("order", [gallery.NEWEST, gallery.OLDEST])
@pytest.mark.parametrize("size", [1, 4, 7, 30, 31])
def test_walking_forward_gives_every_row_once_in_order(rows, order, size):
    pages = _walk_forward(order, size)
    flat = [pk for page in pages for pk in page]
    assert flat == _expected(order)
    assert len(flat) == len(set(flat)) == 30
    assert all(len(page) == size for page in pages[:-1])


@pytest.mark.parametrize("order", [gallery.NEWEST, gallery.OLDEST])
def test_walking_back_with_before_gives_the_same_pages(rows, order):
    size = 4
    forward = _walk_forward(order, size)
    # From the last page, follow "Newer" (before=...) back to the first page.
    after = None
    for _ in forward[:-1]:
        after = gallery.generation_page(gallery.Filters(), order=order, after=after, size=size).next_cursor
    page = gallery.generation_page(gallery.Filters(), order=order, after=after, size=size)
    backward = [[g.id for g in page.items]]
    while page.prev_cursor:
        page = gallery.generation_page(gallery.Filters(), order=order, before=page.prev_cursor, size=size)
        backward.append([g.id for g in page.items])
    assert backward[::-1] == forward


def test_the_first_page_has_no_newer_link_and_the_last_no_next(rows):
    first = gallery.generation_page(gallery.Filters(), size=10)
    assert first.prev_cursor is None and first.next_cursor
    second = gallery.generation_page(gallery.Filters(), after=first.next_cursor, size=10)
    assert second.prev_cursor
    back = gallery.generation_page(gallery.Filters(), before=second.prev_cursor, size=10)
    assert [g.id for g in back.items] == [g.id for g in first.items]
    assert back.prev_cursor is None


@pytest.mark.parametrize("bad", ["", "garbage", "!!!", gallery.encode_cursor(T0, 1)[:-3] + "zzz", "MjAyNnx4"])
def test_an_unreadable_cursor_means_the_first_page(rows, bad):
    page = gallery.generation_page(gallery.Filters(), after=bad, size=5)
    assert [g.id for g in page.items] == _expected(gallery.NEWEST)[:5]


def test_cursor_round_trip_keeps_microseconds():
    stamp = T0 + timedelta(microseconds=123456)
    assert gallery.decode_cursor(gallery.encode_cursor(stamp, 42)) == (stamp, 42)


def test_the_view_walks_all_pages_keeping_the_filters(viewer_client, make):
    for i in range(30):
        make(created_at=T0, status="failed" if i % 3 else "pending")  # all on one timestamp
    seen, url = [], "/?status=failed"
    while url:
        response = viewer_client.get(url)
        assert response.status_code == 200
        page = response.context["page"]
        seen += [g.id for g in page.items]
        url = f"/?status=failed&after={page.next_cursor}" if page.next_cursor else None
        if page.next_cursor:
            assert f'href="?status=failed&amp;after={page.next_cursor}"' in response.text
    assert seen == list(
        Generation.objects.filter(status="failed").order_by("-created_at", "-id").values_list("id", flat=True)
    )
    assert len(seen) == 20


def test_the_query_uses_the_keyset_condition_not_offset(rows):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = gallery.generation_page(gallery.Filters(), size=5)
    with CaptureQueriesContext(connection) as ctx:
        gallery.generation_page(gallery.Filters(), after=first.next_cursor, size=5)
    [query] = ctx.captured_queries
    assert "OFFSET" not in query["sql"].upper()
    assert "LIMIT 6" in query["sql"].upper()
