"""fal's documented worst cases, end to end: the real fal-client over HTTPS against the simulator,
a real Celery worker, SeaweedFS and fal's signed webhooks arriving at the live server (issue 11).

Each test switches the simulator into one behaviour docs/fal-contract.md lists and checks the
outcome a person (and the budget) sees: one paid job per generation, every end reached in
bounded time, no paid video lost.
"""

from __future__ import annotations

import pytest

from generations import fal_webhooks, pricing, services
from generations.models import AuditEvent, Generation
from tests.conftest import wait_for

S = Generation.Status
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def request(source_image, prompt_text="Mist lifts off the lake.", **params) -> Generation:
    prompt, _ = services.prompt_get_or_create(text=prompt_text)
    params = {"resolution": "480p", "duration": 2, "aspect_ratio": "16:9", **params}
    return services.generation_create(
        source_image=source_image, prompt=prompt, params=services.GenerationParams.from_raw(**params)
    )


def jobs_at_fal(sim) -> list[str]:
    return [rid for rid, counts in sim.stats()["requests"].items() if counts.get("requests_created")]


def test_a_submit_whose_connection_resets_is_one_paid_job_revealed_by_the_webhook(sim, source_image):
    sim.configure(rate_reset={"submit": 1.0})
    generation = wait_for(request(source_image, seed=11), S.COMPLETED, timeout=120)
    assert sim.stats()["counters"]["submits"] == 1  # fal-client's re-send was stopped
    assert jobs_at_fal(sim) == [generation.fal_request_id]
    event = AuditEvent.objects.get(action=AuditEvent.Action.WEBHOOK_ADOPT, generation=generation)
    assert event.details["request_id"] == generation.fal_request_id
    assert generation.cost == pricing.estimate(resolution="480p", aspect_ratio="16:9", duration=2)


@pytest.mark.parametrize("webhooks", [True, False], ids=["by-webhook", "by-polling"])
def test_a_request_fal_ended_with_an_error_fails_at_once_and_releases_its_reservation(sim, source_image, webhooks):
    if not webhooks:
        sim.configure(webhook_drop=True)
    generation = request(source_image, prompt_text="Mist [simulate:request_timeout]")
    assert generation.cost > 0  # reserved while it runs
    generation = wait_for(generation, S.FAILED, timeout=60)
    assert generation.error_code == "request_timeout"
    assert generation.failure_words == "fal did not start it in time"
    assert "Request timed out" in generation.error_message
    assert generation.cost == 0 and generation.next_poll_at is None  # fal never bills a server error
    assert len(jobs_at_fal(sim)) == 1


def test_an_ok_webhook_without_its_payload_is_fetched_through_the_queue_and_archived(sim, source_image):
    sim.configure(webhook_payload_error=True)
    generation = wait_for(request(source_image, seed=12), S.COMPLETED, timeout=120)
    assert generation.video_sha256 and generation.video_width == 864
    rid = generation.fal_request_id
    assert fal_webhooks.verified_webhook(rid)["outcome"] == "fetching the result"


def test_a_webhook_signed_with_the_gateway_request_id_is_matched(sim, source_image):
    sim.configure(gateway_request_id_differs=True, webhook_signed_id="gateway_request_id")
    generation = wait_for(request(source_image, seed=13), S.COMPLETED, timeout=120)
    gateway_id = sim.job(generation.fal_request_id).gateway_request_id
    assert gateway_id != generation.fal_request_id
    seen = fal_webhooks.verified_webhook(gateway_id)
    assert seen is not None and seen["outcome"] in ("archiving", "already handled")
    deliveries = [w for w in sim.stats()["webhooks"] if w["request_id"] == gateway_id]
    assert deliveries and all(w.get("status_code") == 200 for w in deliveries)


def test_a_content_policy_refusal_is_its_own_failure_and_may_be_charged(sim, source_image):
    generation = request(source_image, prompt_text="A scene [simulate:content_policy]")
    generation = wait_for(generation, S.FAILED, timeout=60)
    assert generation.error_code == "content_policy_violation"
    assert generation.failure_words == "Refused by fal's content checker"
    assert generation.cost == generation.estimated_cost > 0
    assert generation.cost_note.startswith("May be charged")


@pytest.mark.parametrize("aspect_ratio", ["1:1", "21:9"])
def test_the_settled_price_equals_the_estimate_for_every_ratio(sim, source_image, aspect_ratio):
    generation = request(source_image, aspect_ratio=aspect_ratio, seed=14)
    estimate = generation.cost
    generation = wait_for(generation, S.COMPLETED, timeout=120)
    assert (generation.video_width, generation.video_height) == {"1:1": (640, 640), "21:9": (960, 416)}[aspect_ratio]
    assert generation.cost == estimate


def test_a_seed_above_2_31_is_sent_returned_and_stored(sim, source_image):
    generation = wait_for(request(source_image, seed=4_294_967_295), S.COMPLETED, timeout=120)
    assert generation.seed == generation.seed_used == 4_294_967_295
    assert sim.job(generation.fal_request_id).arguments["seed"] == 4_294_967_295


def _stranger_request(sim, webhook_url: str) -> str:
    """A request of someone else's at fal, genuinely signed webhook and all, aimed at our URL."""
    from generations import fal_gateway
    from tests.fal_simulator.helpers import data_uri, make_image

    arguments = {"prompt": "Not ours", "image_url": data_uri(make_image(480, 360)), "resolution": "480p"}
    arguments["duration"] = "2"
    request_id = fal_gateway.submit(arguments, webhook_url=webhook_url)
    sim.wait(request_id, timeout=60)
    return request_id


def _delivered(sim, request_id: str) -> list[dict]:
    from tests.conftest import wait_until

    return wait_until(
        lambda: [w for w in sim.stats()["webhooks"] if w["request_id"] == request_id and w.get("status_code")],
        timeout=30,
        what="the stranger's webhook delivered",
    )


def test_a_stranger_s_signed_webhook_with_our_generation_id_adopts_nothing(sim, live_server, source_image):
    ours = services.generation_create(
        source_image=source_image,
        prompt=services.prompt_get_or_create(text="Ours")[0],
        params=services.GenerationParams.from_raw(resolution="480p", duration=2),
        submit=False,  # pending: never sent
    )
    url = f"{live_server.url}/webhooks/fal?generation={ours.code}"  # the id every viewer can see
    request_id = _stranger_request(sim, url)
    assert [w["status_code"] for w in _delivered(sim, request_id)] == [200]
    assert fal_webhooks.verified_webhook(request_id)["outcome"] == "unknown request"
    ours.refresh_from_db()
    assert (ours.status, ours.fal_request_id, ours.video.name) == (S.PENDING, "", "")
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.WEBHOOK_ADOPT).exists()


def test_a_signed_reference_is_not_adopted_from_another_fal_account(sim, live_server, source_image, settings):
    from generations import pipeline

    settings.FAL_ACCOUNT_USER_ID = "fal-simulator-user"  # ours; the stranger signs as another account
    ours = services.generation_create(
        source_image=source_image,
        prompt=services.prompt_get_or_create(text="Ours, in doubt")[0],
        params=services.GenerationParams.from_raw(resolution="480p", duration=2),
        submit=False,
    )
    Generation.objects.filter(pk=ours.pk).update(submit_started_at=ours.created_at)  # its own submit in doubt
    sim.configure(webhook_user_id="someone-else")
    url = f"{live_server.url}/webhooks/fal?generation={pipeline.webhook_reference(ours)}"
    request_id = _stranger_request(sim, url)
    _delivered(sim, request_id)
    assert fal_webhooks.verified_webhook(request_id) == {
        **fal_webhooks.verified_webhook(request_id),
        "user_id": "someone-else",
        "outcome": "unknown request",
    }
    ours.refresh_from_db()
    assert (ours.status, ours.fal_request_id) == (S.PENDING, "")
