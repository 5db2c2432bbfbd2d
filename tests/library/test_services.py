"""The library's write services: idempotent, case-insensitive tags, ordered collections."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from generations import library
from generations.models import CollectionItem, Favourite, Generation, Tag

from .conftest import T0, S

pytestmark = pytest.mark.django_db


def test_favouriting_twice_is_one_favourite_and_unfavouriting_is_idempotent(make, viewer, generator):
    g = make()
    assert library.favourite_set(user=viewer, generation=g) is True
    library.favourite_set(user=viewer, generation=g)
    library.favourite_set(user=generator, generation=g)
    assert Favourite.objects.filter(generation=g).count() == 2
    library.favourite_set(user=viewer, generation=g, on=False)
    library.favourite_set(user=viewer, generation=g, on=False)
    assert list(Favourite.objects.values_list("user", flat=True)) == [generator.pk]


def test_bulk_favourites_count_only_new_ones(make, viewer):
    a, b = make(), make()
    library.favourite_set(user=viewer, generation=a)
    assert library.favourites_bulk_add(user=viewer, generations=[a, b]) == 1
    assert library.favourites_bulk_add(user=viewer, generations=[a, b]) == 0
    assert Favourite.objects.filter(user=viewer).count() == 2


def test_rating_is_one_to_five_or_cleared(make):
    g = make()
    library.generation_rate(generation=g, rating=4)
    g.refresh_from_db()
    assert g.rating == 4
    for bad in (0, 6):
        with pytest.raises(ValidationError):
            library.generation_rate(generation=g, rating=bad)
    library.generation_rate(generation=g, rating=None)
    g.refresh_from_db()
    assert g.rating is None


def test_tags_are_created_on_first_use_and_reused_ignoring_case(make):
    a, b = make(), make()
    hero, added = library.generations_tag(generations=[a], name="  Hero  shot ")
    assert (hero.name, added) == ("Hero shot", 1)
    again, added = library.generations_tag(generations=[a, b], name="HERO SHOT")
    assert again == hero and added == 1
    assert Tag.objects.count() == 1
    assert set(hero.generations.all()) == {a, b}
    assert library.generation_untag(generation=a, name="hero shot") is True
    assert library.generation_untag(generation=a, name="hero shot") is False
    assert list(hero.generations.all()) == [b]
    for bad in ("", "   ", "x" * 51):
        with pytest.raises(ValidationError):
            library.tag_get_or_create(name=bad)


def test_collection_keeps_the_order_videos_were_added_and_adding_twice_is_one_item(make, collection, viewer):
    first, second, third = make(T0), make(T0 + timedelta(hours=1)), make(T0 - timedelta(hours=1))
    assert library.collection_add(collection=collection, generations=[second, first], user=viewer) == 2
    assert library.collection_add(collection=collection, generations=[first, third, third], user=viewer) == 1
    items = CollectionItem.objects.filter(collection=collection).order_by("added_at", "id")
    assert [i.generation for i in items] == [second, first, third]
    assert all(i.added_by == viewer for i in items)
    assert library.collection_remove(collection=collection, generation=first) is True
    assert library.collection_remove(collection=collection, generation=first) is False
    assert list(collection.generations.all().order_by("collection_items__added_at")) == [second, third]


def test_collections_by_name_are_reused_ignoring_case_and_validated(viewer, collection):
    same, created = library.collection_get_or_create(name="client DELIVERY", owner=viewer)
    assert same == collection and not created
    new, created = library.collection_get_or_create(name="Mood board", owner=viewer)
    assert created and new.owner == viewer
    library.collection_update(collection=new, name=" Mood  board 2 ", description=" calm ")
    new.refresh_from_db()
    assert (new.name, new.description) == ("Mood board 2", "calm")
    with pytest.raises(ValidationError):
        library.collection_create(name=" ", owner=viewer)


def test_selection_keeps_order_ignores_bad_and_trashed_codes_and_refuses_too_many(make):
    a, b, gone = make(), make(), make(status=S.FAILED)
    Generation.objects.filter(pk=gone.pk).update(trashed_at=T0)
    got = library.selection([str(b.code), "nope", str(a.code), str(gone.code), str(b.code)])
    assert got == [b, a]
    with pytest.raises(library.SelectionTooLarge, match="at most 2"):
        library.selection([str(a.code), str(b.code), str(gone.code)], limit=2)


def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote():
    for risky in ("=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert library.csv_safe(risky) == "'" + risky
    assert library.csv_safe("A calm sea") == "A calm sea"
    assert library.csv_safe(None) == ""
    assert library.csv_safe(5) == "5"
