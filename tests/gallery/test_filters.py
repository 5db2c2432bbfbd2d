"""The gallery's filters: each narrows correctly, and they combine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from generations import services
from generations.models import Batch

from .conftest import T0, S

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(make, image_b, alice, generator):
    other_prompt, _ = services.prompt_get_or_create(text="Waves crashing on the rocks at night.")
    batch = Batch.objects.create(owner=alice)
    made = {
        "a": make(
            T0, S.COMPLETED, resolution="1080p", aspect_ratio="16:9", duration=5, requested_by=alice, batch=batch
        ),
        "b": make(T0 - timedelta(days=1), S.FAILED, resolution="480p", aspect_ratio="9:16", duration=3),
        "c": make(
            T0 - timedelta(days=2),
            S.IN_QUEUE,
            resolution="720p",
            source_image=image_b,
            prompt=other_prompt,
            requested_by=generator,
        ),
        "d": make(T0 - timedelta(days=3), S.COMPLETED, source_image=image_b, resolution="1080p", batch=batch),
        "e": make(
            T0 - timedelta(days=10), S.PENDING, resolution="720p", prompt=other_prompt, duration=12, requested_by=alice
        ),
    }
    return {"batch": batch, "image_b": image_b, **made}


def names(response, data) -> list[str]:
    by_id = {g.id: name for name, g in data.items() if hasattr(g, "prompt_text")}
    return [by_id[g.id] for g in response.context["page"].items]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["a", "b", "c", "d", "e"]),
        ("status=completed", ["a", "d"]),
        ("status=in_queue", ["c"]),
        ("resolution=1080p", ["a", "d"]),
        ("aspect_ratio=9%3A16", ["b"]),
        ("duration=12", ["e"]),
        ("user=alice", ["a", "e"]),
        ("user=gene", ["c"]),
        ("user=nobody", []),
        ("date_from=2026-03-08", ["a", "b", "c"]),
        ("date_to=2026-03-08", ["c", "d", "e"]),
        ("date_from=2026-03-07&date_to=2026-03-08", ["c", "d"]),
        ("q=waves", ["c", "e"]),
        ("q=hills", ["a", "b", "d"]),
        ("sort=oldest", ["e", "d", "c", "b", "a"]),
        ("status=completed&resolution=1080p&user=alice", ["a"]),
        ("q=waves&status=pending&sort=oldest", ["e"]),
        # A bad value is ignored, the other filters still apply.
        ("status=bogus&resolution=1080p", ["a", "d"]),
        ("duration=99&date_from=notadate&user=alice", ["a", "e"]),
    ],
)
def test_each_filter_narrows_and_they_combine(viewer_client, data, query, expected):
    response = viewer_client.get(f"/?{query}")
    assert response.status_code == 200
    assert names(response, data) == expected


def test_filter_by_source_image_and_batch_codes(viewer_client, data):
    assert names(viewer_client.get(f"/?image={data['image_b'].code}"), data) == ["c", "d"]
    assert names(viewer_client.get(f"/?batch={data['batch'].code}"), data) == ["a", "d"]
    both = viewer_client.get(f"/?image={data['image_b'].code}&batch={data['batch'].code}")
    assert names(both, data) == ["d"]
    assert "Source image" in both.text and "Batch" in both.text  # shown as chips
    assert names(viewer_client.get("/?image=not-a-uuid"), data) == ["a", "b", "c", "d", "e"]


def test_the_filter_bar_keeps_the_values_for_a_shareable_url(viewer_client, data):
    text = viewer_client.get("/?status=failed&q=hills&user=alice").text
    assert '<option value="failed" selected>' in text
    assert 'value="hills"' in text and 'value="alice"' in text
    assert "No videos match these filters" in text


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_postgres_full_text_search_stems_and_combines_words(viewer_client, data):
    # "crash" finds "crashing", "hill" finds "hills": stemming, which icontains would not do for "crashes".
    assert names(viewer_client.get("/?q=crashes"), data) == ["c", "e"]
    assert names(viewer_client.get("/?q=hill+dawn"), data) == ["a", "b", "d"]
    assert names(viewer_client.get("/?q=hill+waves"), data) == []
    assert names(viewer_client.get('/?q="slow+zoom"'), data) == ["a", "b", "d"]


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the substring match is the fallback")
def test_other_databases_match_a_substring_case_insensitively(viewer_client, data):
    assert names(viewer_client.get("/?q=CRASHING"), data) == ["c", "e"]
    assert names(viewer_client.get("/?q=rock"), data) == ["c", "e"]  # part of a word
    assert names(viewer_client.get("/?q=crashes"), data) == []
