"""The generations list: columns, filters, a constant number of queries, and the live status feed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generations import actions, services
from generations.models import Batch, Generation

from .conftest import changelist_url

pytestmark = pytest.mark.django_db
S = Generation.Status
STATUS_URL = reverse("admin:generations_generation_status")


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_rows(root_client, make_generation, images, alice):
    batch = Batch.objects.create(owner=alice)
    make_generation(S.COMPLETED, batch=batch)
    one_row = count_queries(root_client, changelist_url())
    statuses = [S.PENDING, S.IN_QUEUE, S.IN_PROGRESS, S.FAILED, S.COMPLETED]
    for n in range(19):
        make_generation(statuses[n % 5], image=images[n % 2], prompt_text=f"Prompt {n}", batch=batch)
    assert Generation.objects.count() == 20
    assert count_queries(root_client, changelist_url()) == one_row


def test_columns_show_poster_status_details_cost_and_batch(root_client, make_generation, alice):
    batch = Batch.objects.create(owner=alice)
    done = make_generation(S.COMPLETED, batch=batch)
    queued = make_generation(S.IN_QUEUE, queue_position=3)
    running = make_generation(S.IN_PROGRESS, started_at=timezone.now() - timedelta(seconds=75))
    failed = make_generation(S.FAILED, error_code="fal_422", error_message="The prompt was refused.")
    html = root_client.get(changelist_url()).text
    assert f'src="{done.poster.url}"' in html
    assert 'class="gen-thumb gen-thumb-empty"' in html  # no poster yet
    assert f'data-generation-id="{queued.pk}" data-status="in_queue" data-finished="false"' in html
    assert "In queue · 3 ahead" in html
    assert "In progress · 1m 1" in html  # 1m 15s, give or take the test's own time
    assert f'data-generation-id="{done.pk}" data-status="completed" data-finished="true"' in html
    assert 'title="fal_422: The prompt was refused."' in html
    assert "≈ $0.0486" in html  # reserved while running
    assert f'href="{changelist_url()}?batch={batch.code}"' in html
    assert 'id="generation-status-feed"' in html
    assert f'data-url="{STATUS_URL}"' in html
    assert "generations/generation_status.js" in html
    assert running.pk and failed.pk


@pytest.mark.parametrize(
    "query",
    [
        "?status__exact=failed",
        "?resolution__exact=480p",
        "?aspect_ratio__exact=16%3A9",
        "?duration__exact=5",
        "?created_at__gte=2000-01-01T00:00:00%2B00:00",
        "?q=dusk",
    ],
)
def test_filters_and_search(root_client, make_generation, query):
    wanted = make_generation(S.FAILED, prompt_text="Light fades at dusk.")
    response = root_client.get(changelist_url() + query)
    assert response.status_code == 200
    assert wanted in response.context["cl"].result_list


def test_filter_by_batch_and_by_requester(root_client, make_generation, superuser, alice):
    batch = Batch.objects.create(owner=alice)
    inside = make_generation(batch=batch)
    outside = make_generation()
    Generation.objects.filter(pk=outside.pk).update(requested_by=superuser)
    response = root_client.get(changelist_url() + f"?batch={batch.code}")
    assert list(response.context["cl"].result_list) == [inside]
    assert str(batch) in response.text  # the chosen batch is listed in the filter
    response = root_client.get(changelist_url() + f"?requested_by__id__exact={superuser.pk}")
    assert [g.pk for g in response.context["cl"].result_list] == [outside.pk]
    assert list(root_client.get(changelist_url() + "?batch=not-a-uuid").context["cl"].result_list) == []


def test_the_status_feed_answers_for_the_asked_rows(viewer_client, make_generation):
    queued = make_generation(S.IN_QUEUE, queue_position=0)
    done = make_generation(S.COMPLETED)
    other = make_generation(S.PENDING)
    response = viewer_client.get(STATUS_URL, {"id": [queued.pk, done.pk, 999999]})  # an id of no row: left out
    assert response.status_code == 200
    rows = {g["id"]: g for g in response.json()["generations"]}
    assert set(rows) == {queued.pk, done.pk}
    assert (rows[queued.pk]["status"], rows[queued.pk]["finished"]) == ("in_queue", False)
    assert "In queue · 0 ahead" in rows[queued.pk]["cells"]["status_badge"]
    assert (rows[done.pk]["status"], rows[done.pk]["finished"]) == ("completed", True)
    assert done.poster.url in rows[done.pk]["cells"]["thumbnail"]
    assert set(rows[done.pk]["cells"]) == {"thumbnail", "status_badge", "seed_used", "cost_display"}
    assert other.pk not in rows
    assert viewer_client.post(STATUS_URL, {"id": queued.pk}).status_code == 405
    # A value that cannot be an id is refused, saying which (tests/security/test_hostile_values.py).
    refused = viewer_client.get(STATUS_URL, {"id": [queued.pk, "x"]})
    assert refused.status_code == 400 and "'x' is not a generation id" in refused.json()["error"]

    # It follows the generation as it moves on.
    Generation.objects.filter(pk=queued.pk).update(status=S.IN_PROGRESS, started_at=timezone.now())
    [row] = viewer_client.get(STATUS_URL, {"id": queued.pk}).json()["generations"]
    assert row["status"] == "in_progress"
    assert "In progress · 0s" in row["cells"]["status_badge"]


def test_the_status_feed_needs_staff_and_view_permission(client, alice, make_generation, django_user_model):
    generation = make_generation()
    assert "/admin/login/" in client.get(STATUS_URL, {"id": generation.pk})["Location"]
    staff = django_user_model.objects.create_user("nobody", is_staff=True)
    client.force_login(staff)
    assert client.get(STATUS_URL, {"id": generation.pk}).status_code == 403
    client.force_login(alice)  # not staff
    assert client.get(STATUS_URL, {"id": generation.pk}).status_code == 302


def test_the_status_feed_uses_one_query_for_a_page(viewer_client, make_generation):
    ids = [make_generation(S.IN_QUEUE, prompt_text=f"P {n}").pk for n in range(10)]
    with CaptureQueriesContext(connection) as queries:
        viewer_client.get(STATUS_URL, {"id": ids})
    few = len(queries)
    ids += [make_generation(S.IN_QUEUE, prompt_text=f"Q {n}").pk for n in range(10)]
    with CaptureQueriesContext(connection) as queries:
        response = viewer_client.get(STATUS_URL, {"id": ids})
    assert len(response.json()["generations"]) == 20
    assert len(queries) == few


def test_the_generate_button_is_on_the_list_for_those_who_may(client, superuser, viewer):
    url = reverse("admin:generations_generation_generate")
    client.force_login(superuser)
    assert f'href="{url}"' in client.get(changelist_url()).text
    client.force_login(viewer)
    assert f'href="{url}"' not in client.get(changelist_url()).text


def test_a_batch_links_to_its_generations(root_client, images, superuser):
    plan = actions.plan(images=images, prompt_texts=["Rain starts."], params=services.GenerationParams())
    [first, _] = actions.request(plan, user=superuser)
    response = root_client.get(reverse("admin:generations_batch_change", args=[first.batch_id]))
    assert f"{changelist_url()}?batch={first.batch.code}" in response.text
