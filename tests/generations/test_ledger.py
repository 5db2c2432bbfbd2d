"""The append-only spend ledger (issue 12, item 4): money spent is never erased.

Budgets, the dashboard and the spend CSV read the ledger; deleting or purging a generation
leaves its lines (with its code and inputs), so a deletion frees no budget and rewrites no
past month. Each lifecycle path writes lines that add up to the generation's cost.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from generations import actions, budget, dashboard, ledger, lifecycle, services, trash
from generations.models import Budget, Generation, SpendEntry

pytestmark = pytest.mark.django_db
S = Generation.Status


def lines(generation) -> list[tuple[str, Decimal]]:
    return list(SpendEntry.objects.filter(generation_code=generation.code).values_list("kind", "amount"))


def new(source_image, prompt, alice, **params) -> Generation:
    params = services.GenerationParams(resolution="480p", aspect_ratio="16:9", duration=5, **params)
    return services.generation_create(
        source_image=source_image, prompt=prompt, params=params, requested_by=alice, submit=False
    )


def test_a_request_reserves_its_estimate_with_its_inputs(source_image, prompt, alice):
    generation = new(source_image, prompt, alice, seed=4_294_967_295)
    [line] = SpendEntry.objects.filter(generation_code=generation.code)
    assert (line.kind, line.amount) == ("reservation", generation.estimated_cost) == ("reservation", Decimal("0.0486"))
    assert line.requested_by == alice and line.requested_by_name == "alice"
    assert line.requested_at == generation.created_at
    assert line.inputs["prompt"] == prompt.text and line.inputs["seed"] == 4_294_967_295
    assert line.inputs["source_sha256"] == source_image.sha256 and line.inputs["resolution"] == "480p"


def test_every_ending_settles_the_ledger_to_the_cost(source_image, prompt, alice):
    failed = new(source_image, prompt, alice)
    lifecycle.transition(failed, S.FAILED, error_code="x")
    assert lines(failed) == [("reservation", Decimal("0.0486")), ("refund", Decimal("-0.0486"))]

    running = new(source_image, prompt, alice)
    lifecycle.transition(running, S.SUBMITTED, fal_request_id="r-1")
    lifecycle.transition(running, S.IN_PROGRESS)
    lifecycle.transition(running, S.CANCELLING)
    lifecycle.transition(running, S.CANCELLED)  # fal may bill a running request: the estimate stays
    assert lines(running) == [("reservation", Decimal("0.0486"))]

    done = new(source_image, prompt, alice)
    lifecycle.transition(done, S.SUBMITTED, fal_request_id="r-2")
    lifecycle.transition(done, S.ARCHIVING)
    lifecycle.transition(done, S.COMPLETED, cost=Decimal("0.0500"), video="v.mp4", video_sha256="a" * 64)
    assert lines(done) == [("reservation", Decimal("0.0486")), ("settlement", Decimal("0.0014"))]
    for generation in (failed, running, done):
        generation.refresh_from_db()
        assert ledger.recorded(generation) == generation.cost


def test_deleting_a_generation_frees_no_budget_and_rewrites_no_month(source_image, prompt, alice, superuser):
    Budget.objects.update_or_create(pk=1, defaults={"monthly_team_cap": Decimal("0.10")})
    first = new(source_image, prompt, alice)
    new(source_image, prompt, alice)  # 2 × $0.0486 reserved: $0.0028 left
    month = budget.month_start()
    before = (budget.spent_since(month), dashboard.spend_totals(since=month).spent)
    Generation.objects.filter(pk=first.pk).update(status=S.FAILED, cost=Decimal("0.0486"), cost_note="May be charged")
    actions.delete(Generation.objects.get(pk=first.pk), user=superuser)
    assert not Generation.objects.filter(pk=first.pk).exists()
    assert (
        (budget.spent_since(month), dashboard.spend_totals(since=month).spent)
        == before
        == (
            Decimal("0.0972"),
            Decimal("0.0972"),
        )
    )
    with pytest.raises(budget.BudgetExceeded):  # the deleted one's money is still spent
        actions.request(
            actions.plan(images=[source_image], prompt_texts=["Again"], params=services.GenerationParams()),
            user=alice,
        )
    # The CSV keeps its line: its code, inputs and cost, marked deleted.
    start, end = dashboard.month_bounds(None)
    rows = {row[1]: row for row in dashboard.spend_ledger(start=start, end=end)}
    assert rows[str(first.code)][4:] == ("deleted", "480p", "16:9", 5, Decimal("0.0486"), Decimal("0.0486"), "")
    assert [line.generation_id for line in SpendEntry.objects.filter(generation_code=first.code)] == [first.pk]


def test_purging_the_trash_keeps_the_money(source_image, prompt, alice):
    generation = new(source_image, prompt, alice)
    lifecycle.transition(generation, S.SUBMITTED, fal_request_id="r-3")
    lifecycle.transition(generation, S.ARCHIVING)
    lifecycle.transition(generation, S.COMPLETED, cost=Decimal("0.0486"), video="v.mp4", video_sha256="b" * 64)
    Generation.objects.filter(pk=generation.pk).update(trashed_at=timezone.now() - timedelta(days=90))
    spent = budget.spent_since(budget.month_start())
    report = trash.purge()
    assert report.deleted == 1 and not Generation.objects.filter(pk=generation.pk).exists()
    assert budget.spent_since(budget.month_start()) == spent == Decimal("0.0486")


def test_lines_are_never_changed_or_deleted(source_image, prompt, alice):
    line = SpendEntry.objects.get(generation_code=new(source_image, prompt, alice).code)
    line.amount = Decimal(0)
    with pytest.raises(ValueError, match="only ever added"):
        line.save()
    with pytest.raises(ValueError, match="never deleted"):
        line.delete()
    assert SpendEntry.objects.get(pk=line.pk).amount == Decimal("0.0486")


def test_generations_from_before_the_ledger_are_carried_over_once(source_image, prompt, alice):
    old = Generation.objects.create(
        source_image=source_image,
        prompt=prompt,
        prompt_text="From before",
        status=S.FAILED,
        cost=Decimal("0.1234"),
        estimated_cost=Decimal("0.2000"),
        requested_by=alice,
    )
    assert lines(old) == []
    assert ledger.carry_over(connection) == 1
    assert ledger.carry_over(connection) == 0  # idempotent
    [line] = SpendEntry.objects.filter(generation_code=old.code)
    assert (line.kind, line.amount, line.requested_by_name, line.inputs["prompt"]) == (
        "reservation",
        Decimal("0.1234"),
        "alice",
        "From before",
    )
