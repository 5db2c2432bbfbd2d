"""Admin-driven requests: plans, budgets (including a race), duplicates, retry, remix, delete, audit."""

from __future__ import annotations

import io
import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection

from generations import actions, budget, lifecycle, services
from generations.budget import BudgetExceeded
from generations.models import AuditEvent, Batch, Budget, Generation, SourceImage
from generations.services import GenerationParams
from tests.conftest import make_image_bytes

S = Generation.Status
P480 = GenerationParams.from_raw(resolution="480p", aspect_ratio="16:9", duration=5)
PRICE_480 = Decimal("0.0486")


@pytest.fixture(autouse=True)
def no_worker():
    with mock.patch("generations.tasks.submit_generation.delay") as delay:
        yield delay


@pytest.fixture
def images(db, alice):
    return [
        services.source_image_ingest(file=io.BytesIO(make_image_bytes(640, 360, colour=(n * 40, 10, 10))))[0]
        for n in range(2)
    ]


def _cap(monthly=None, daily=None):
    Budget.objects.update_or_create(pk=1, defaults={"monthly_team_cap": monthly, "daily_user_cap": daily})


@pytest.mark.django_db
def test_plan_counts_and_prices_every_generation(images):
    plan = actions.plan(images=images, prompt_texts=["A", "B", " "], params=P480, variations=3)
    assert plan.count == 2 * 2 * 3
    assert plan.total_cost == PRICE_480 * 12
    assert {item.params.seed for item in plan.items} == {None}


@pytest.mark.django_db
def test_explicit_seed_variations_are_consecutive_seeds(images):
    params = GenerationParams.from_raw(resolution="480p", seed=10)
    plan = actions.plan(images=images[:1], prompt_texts=["A"], params=params, variations=3)
    assert [item.params.seed for item in plan.items] == [10, 11, 12]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt_texts": []}, "at least one prompt"),
        ({"prompt_texts": ["ok", "bad\x07"]}, "control character"),
        ({"variations": 0}, "1 to 20"),
        ({"variations": 21}, "1 to 20"),
        ({"prompt_texts": [str(n) for n in range(11)], "variations": 20}, "at most 200"),
    ],
)
def test_plan_refuses_bad_requests(images, kwargs, message):
    args = {"images": images[:1], "prompt_texts": ["A"], "params": P480, "variations": 1, **kwargs}
    with pytest.raises(ValidationError, match=message):
        actions.plan(**args)


@pytest.mark.django_db
def test_request_creates_one_batch_queues_all_and_audits(images, alice, no_worker, django_capture_on_commit_callbacks):
    plan = actions.plan(images=images, prompt_texts=["A", "B"], params=P480, variations=2)
    with django_capture_on_commit_callbacks(execute=True):
        generations = actions.request(plan, user=alice, note="campaign")
    assert len(generations) == 8 and Batch.objects.count() == 1
    batch = Batch.objects.get()
    assert batch.note == "campaign" and batch.owner == alice
    assert set(Generation.objects.values_list("batch", flat=True)) == {batch.pk}
    assert all(g.cost == g.estimated_cost == PRICE_480 for g in generations)
    assert no_worker.call_count == 8
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.batch, event.cost) == ("generate", alice, batch, PRICE_480 * 8)


@pytest.mark.django_db
def test_budget_refusal_says_what_is_left_and_creates_nothing(images, alice):
    _cap(monthly=Decimal("0.10"))
    plan = actions.plan(images=images, prompt_texts=["A"], params=P480, variations=2)  # 4 × 0.0486 = 0.1944
    with pytest.raises(BudgetExceeded, match=r"cost \$0.1944, but only \$0.10 of the team's monthly budget"):
        actions.request(plan, user=alice)
    assert Generation.objects.count() == 0 and Batch.objects.count() == 0 and AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_daily_user_cap_is_per_user(images, alice, django_user_model):
    bob = django_user_model.objects.create_user("bob")
    _cap(daily=Decimal("0.05"))
    one = actions.plan(images=images[:1], prompt_texts=["A"], params=P480)
    actions.request(one, user=alice)
    with pytest.raises(BudgetExceeded, match=r"only \$0.0014 of your daily budget \(\$0.05\) is left today"):
        actions.request(one, user=alice)
    actions.request(one, user=bob)


@pytest.mark.django_db
def test_a_refusal_never_rounds_what_is_left_to_nothing(images, alice):
    _cap(monthly=Decimal("0.05"))
    one = actions.plan(images=images[:1], prompt_texts=["A"], params=P480)
    actions.request(one, user=alice)  # $0.0014 left
    with pytest.raises(BudgetExceeded) as refused:
        actions.request(one, user=alice)
    assert str(refused.value) == (
        "This would cost $0.0486, but only $0.0014 of the team's monthly budget ($0.05) is left."
    )


def test_money_in_budget_messages_keeps_what_matters():
    assert budget.usd(Decimal("12.5")) == "$12.50"  # whole cents stay cents
    assert budget.usd(Decimal("0")) == "$0.00"
    assert budget.usd(Decimal("0.004")) == "$0.0040"  # not "$0.00"
    assert budget.usd(Decimal("0.1944")) == "$0.1944"  # not "$0.19" beside a $0.19 that is left
    assert budget.usd(Decimal("0.00004")) == "less than $0.0001"
    assert budget.usd(0.25) == "$0.25"  # floats (generate --json figures) read as written


@pytest.mark.django_db
def test_failed_and_cancelled_before_start_give_the_money_back(images, alice):
    _cap(monthly=Decimal("0.05"))
    [generation] = actions.request(actions.plan(images=images[:1], prompt_texts=["A"], params=P480), user=alice)
    lifecycle.transition(generation, S.FAILED, error_code="x")
    assert generation.cost == 0
    [second] = actions.request(actions.plan(images=images[:1], prompt_texts=["B"], params=P480), user=alice)
    actions.cancel(second, user=alice)
    second.refresh_from_db()
    assert second.status == S.CANCELLED and second.cost == 0
    actions.request(actions.plan(images=images[:1], prompt_texts=["C"], params=P480), user=alice)


@pytest.mark.django_db
def test_cancelled_while_running_may_still_be_charged(generation):
    lifecycle.transition(generation, S.SUBMITTED, fal_request_id="r")
    lifecycle.transition(generation, S.IN_PROGRESS)
    lifecycle.transition(generation, S.CANCELLING)
    lifecycle.transition(generation, S.CANCELLED)
    assert generation.cost == generation.estimated_cost > 0
    assert generation.cost_note.startswith("May be charged")


@pytest.mark.django_db(transaction=True)
def test_two_admins_racing_for_the_last_dollars_cannot_both_pass(images, alice, django_user_model):
    bob = django_user_model.objects.create_user("bob")
    _cap(monthly=PRICE_480 * 3)  # room for 3, each asks for 2
    plan = actions.plan(images=images[:1], prompt_texts=["A"], params=P480, variations=2)
    barrier = threading.Barrier(2)
    outcomes = []

    def admin(user):
        try:
            barrier.wait(timeout=10)
            actions.request(plan, user=user)
            outcomes.append("ok")
        except BudgetExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=admin, args=(u,)) for u in (alice, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["ok", "refused"]
    assert Generation.objects.count() == 2


@pytest.mark.django_db
def test_an_identical_completed_video_is_flagged_before_paying_again(images, alice):
    params = GenerationParams.from_raw(resolution="480p", aspect_ratio="16:9", duration=5, seed=7)
    [first] = actions.request(actions.plan(images=images[:1], prompt_texts=["A  cat"], params=params), user=alice)
    Generation.objects.filter(pk=first.pk).update(status=S.COMPLETED, video="v.mp4", video_sha256="d" * 64)
    # Same bytes (even re-uploaded), same prompt up to whitespace, same settings and seed.
    again = actions.plan(images=images[:1], prompt_texts=["A cat"], params=params)
    assert again.duplicates[0].identical == first
    with pytest.raises(actions.DuplicateRequest, match="1 of these generation"):
        actions.request(again, user=alice)
    assert Generation.objects.count() == 1
    actions.request(again, user=alice, allow_duplicates=True)
    assert Generation.objects.count() == 2
    # A random seed, or any other difference, is not a duplicate.
    assert not actions.plan(images=images[:1], prompt_texts=["A cat"], params=P480).duplicates
    other = GenerationParams.from_raw(resolution="720p", aspect_ratio="16:9", duration=5, seed=7)
    assert not actions.plan(images=images[:1], prompt_texts=["A cat"], params=other).duplicates


@pytest.mark.django_db
def test_retry_makes_a_new_attempt_with_the_same_inputs(generation, alice):
    with pytest.raises(actions.NotAllowed, match="only failed or cancelled generations can be retried"):
        actions.retry(generation, user=alice)
    lifecycle.transition(generation, S.FAILED, error_code="fal_server_error")
    new = actions.retry(generation, user=alice)
    assert new.retry_of == generation and new.status == S.PENDING
    fields = [
        "source_image_id",
        "prompt_text",
        "aspect_ratio",
        "resolution",
        "duration",
        "camera_fixed",
        "seed",
        "enable_safety_checker",
    ]
    assert [getattr(new, f) for f in fields] == [getattr(generation, f) for f in fields]
    assert AuditEvent.objects.get(action="retry").generation == new


@pytest.mark.django_db
def test_remix_changes_the_seed_or_the_prompt(generation, alice):
    remixed = actions.remix(generation, user=alice)
    assert remixed.seed is None and remixed.prompt_text == generation.prompt_text
    edited = actions.remix(generation, user=alice, prompt_text="Now at dusk.", seed=3)
    assert (edited.prompt_text, edited.seed, edited.retry_of) == ("Now at dusk.", 3, generation)
    assert AuditEvent.objects.filter(action="remix").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("delete_files", [True, False])
def test_delete_records_the_cost_and_removes_files_by_setting(
    generation, alice, settings, delete_files, django_capture_on_commit_callbacks
):
    settings.DELETE_ARCHIVED_FILES = delete_files
    generation.video.save("v.mp4", ContentFile(b"video"), save=False)
    generation.poster.save("p.jpg", ContentFile(b"jpeg"), save=False)
    Generation.objects.filter(pk=generation.pk).update(
        status=S.COMPLETED, video=generation.video.name, poster=generation.poster.name, video_sha256="e" * 64
    )
    generation.refresh_from_db()
    storage, names = generation.video.storage, [generation.video.name, generation.poster.name]
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete(generation, user=alice)
    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert [storage.exists(n) for n in names] == [not delete_files] * 2
    event = AuditEvent.objects.get(action="delete")
    assert event.generation_code == generation.code and event.cost == generation.cost
    assert SourceImage.objects.filter(pk=generation.source_image_id).exists()


@pytest.mark.django_db
def test_delete_refuses_a_generation_in_flight(generation, alice):
    with pytest.raises(actions.NotAllowed, match="cancel it first"):
        actions.delete(generation, user=alice)


@pytest.mark.django_db
def test_budget_changes_are_audited(alice):
    actions.budget_update(user=alice, monthly_team_cap=Decimal("500"), daily_user_cap=None)
    actions.budget_update(user=alice, monthly_team_cap=Decimal("400"), daily_user_cap=Decimal("20"))
    messages = list(AuditEvent.objects.filter(action="budget_change").order_by("id").values_list("message", flat=True))
    assert messages == [
        "Budget changed: monthly team cap: no cap → $500.00.",
        "Budget changed: monthly team cap: $500.00 → $400.00; daily user cap: no cap → $20.00.",
    ]
    with pytest.raises(ValidationError):
        actions.budget_update(user=alice, monthly_team_cap=Decimal("-1"), daily_user_cap=None)
