"""A generation's page: the video, every input, timings, cost, fal's logs, errors and links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from generations import actions
from generations.models import Batch, Generation

from .conftest import change_url

pytestmark = pytest.mark.django_db
S = Generation.Status


def test_a_completed_generation_plays_its_video(root_client, make_generation, alice):
    batch = Batch.objects.create(owner=alice)
    start = timezone.now() - timedelta(minutes=5)
    done = make_generation(
        S.COMPLETED,
        seed=11,
        batch=batch,
        created_at=start,
        video_width=854,
        video_height=480,
        submitted_at=start + timedelta(seconds=2),
        started_at=start + timedelta(seconds=12),
        finished_at=start + timedelta(seconds=72),
        archived_at=start + timedelta(seconds=80),
        cost_note="",
    )
    response = root_client.get(change_url(done))
    assert response.status_code == 200
    html = response.text
    assert '<video class="gen-player" controls' in html
    assert f'poster="{done.poster.url}"' in html
    assert f'<source src="{done.video.url}" type="video/mp4">' in html
    # Inputs, seed, cost and links.
    assert "480p, 16:9, 5 s, camera free, safety checker on" in html
    assert "11</strong>" in html  # the seed used
    assert "$0.0486" in html
    assert f'href="/admin/generations/sourceimage/{done.source_image_id}/change/"' in html
    assert f'href="/admin/generations/prompt/{done.prompt_id}/change/"' in html
    assert f'href="/admin/generations/batch/{batch.pk}/change/"' in html
    # Timings and how long each step took.
    assert "in fal&#x27;s queue: 10s" in html
    assert "generating: 1m 00s" in html
    assert "archiving: 8s" in html
    assert "total: 1m 20s" in html
    assert "<dt>Took</dt><dd>waiting to be sent: 2s<br>in fal&#x27;s queue: 10s" in html
    # Read-only: no save buttons.
    assert 'name="_save"' not in html
    assert 'name="_continue"' not in html


def test_a_failed_generation_shows_its_error_and_logs(root_client, make_generation):
    failed = make_generation(
        S.FAILED,
        error_code="content_policy_violation",
        error_message="The prompt was refused by the safety checker.",
        fal_logs=[
            {"timestamp": "2026-11-20T10:00:01.250000+00:00", "level": "INFO", "message": "Starting <render>"},
            {"timestamp": "2026-11-20T10:00:03+00:00", "level": "ERROR", "message": "Refused"},
        ],
    )
    html = root_client.get(change_url(failed)).text
    assert '<div class="gen-error" role="alert">' in html
    # The reason in words first, fal's code beside it.
    assert "Failed: Refused by fal&#x27;s content checker <code>content_policy_violation</code>.</strong>" in html
    assert "The prompt was refused by the safety checker." in html
    assert '<table class="gen-logs">' in html
    assert '<tr><td>10:00:01.250</td><td class="level">INFO</td><td>Starting &lt;render&gt;</td></tr>' in html
    assert "Failed: no video<" in html


def test_retries_link_both_ways(root_client, make_generation, superuser):
    failed = make_generation(S.FAILED)
    retry = actions.retry(failed, user=superuser)
    assert change_url(failed) in root_client.get(change_url(retry)).text
    page = root_client.get(change_url(failed))
    assert change_url(retry) in page.text
    assert page.context["retries"] == [retry]
