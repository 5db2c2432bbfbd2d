"""The admin: every list, filter and search renders; raw adds that would bypass validation are off."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("generation", ""),
        ("generation", "?q=hills"),
        ("generation", "?status__exact=pending&resolution__exact=1080p&duration__exact=5"),
        ("sourceimage", "?q=still"),
        ("prompt", "?q=dawn"),
        ("batch", ""),
    ],
)
def test_changelists_render_with_filters_and_search(admin_client_logged_in, generation, model, query):
    response = admin_client_logged_in.get(reverse(f"admin:generations_{model}_changelist") + query)
    assert response.status_code == 200
    if model == "generation":
        assert "A slow zoom over the hills" in response.text
        assert "Pending" in response.text


def test_search_finds_by_prompt_text_and_not_otherwise(admin_client_logged_in, generation):
    url = reverse("admin:generations_generation_changelist")
    assert "1 generation" in admin_client_logged_in.get(url + "?q=hills").text
    assert "0 generations" in admin_client_logged_in.get(url + "?q=volcano").text


def test_change_pages_render(admin_client_logged_in, generation):
    for name, obj in [
        ("generation", generation),
        ("sourceimage", generation.source_image),
        ("prompt", generation.prompt),
    ]:
        response = admin_client_logged_in.get(reverse(f"admin:generations_{name}_change", args=[obj.pk]))
        assert response.status_code == 200


@pytest.mark.parametrize("model", ["generation", "sourceimage", "prompt", "batch"])
def test_raw_add_is_disabled(admin_client_logged_in, model):
    assert admin_client_logged_in.get(reverse(f"admin:generations_{model}_add")).status_code == 403


def test_admin_requires_login(client):
    response = client.get(reverse("admin:generations_generation_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
