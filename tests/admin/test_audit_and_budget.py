"""The audit trail (read-only) and the budget (edited through actions.budget_update)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse

from generations import actions
from generations.models import AuditEvent, Budget, Generation

from .conftest import change_url, changelist_url, run_action

pytestmark = pytest.mark.django_db
S = Generation.Status
BUDGET_URL = reverse("admin:generations_budget_change", args=[1])


def test_the_audit_trail_lists_filters_and_searches(root_client, make_generation, superuser):
    pending = make_generation(S.PENDING)
    run_action(root_client, "cancel_selected", [pending])
    actions.budget_update(user=superuser, monthly_team_cap=Decimal(5), daily_user_cap=None)
    url = changelist_url("auditevent")
    response = root_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 2
    for query, expected in [
        ("?action__exact=cancel", ["cancel"]),
        ("?action__exact=budget_change", ["budget_change"]),
        (f"?actor__id__exact={superuser.pk}", ["budget_change", "cancel"]),
        ("?created_at__gte=2000-01-01T00:00:00%2B00:00", ["budget_change", "cancel"]),
        (f"?q={pending.code}", ["cancel"]),
        ("?q=monthly", ["budget_change"]),
    ]:
        found = sorted(e.action for e in root_client.get(url + query).context["cl"].result_list)
        assert found == expected, query
    assert change_url(pending) in response.text


def test_the_audit_trail_cannot_be_edited(root_client, make_generation, superuser):
    event = (
        actions.budget_update(user=superuser, monthly_team_cap=None, daily_user_cap=None) and AuditEvent.objects.get()
    )
    assert root_client.get(reverse("admin:generations_auditevent_add")).status_code == 403
    page = root_client.get(change_url(event))
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    root_client.post(change_url(event), {"message": "rewritten"})
    event.refresh_from_db()
    assert event.message != "rewritten"
    assert root_client.post(reverse("admin:generations_auditevent_delete", args=[event.pk])).status_code == 403


def test_saving_the_budget_is_audited_and_shows_the_spend(root_client, make_generation, superuser):
    make_generation()  # $0.0486 reserved by alice this month
    page = root_client.get(changelist_url("budget"), follow=True)
    assert page.redirect_chain[-1][0] == BUDGET_URL
    assert "spent $0.05" in page.text  # the team this month
    response = root_client.post(BUDGET_URL, {"monthly_team_cap": "20.00", "daily_user_cap": "", "_save": "Save"})
    assert response.status_code == 302
    budget = Budget.objects.get()
    assert (budget.monthly_team_cap, budget.daily_user_cap, budget.updated_by) == (Decimal("20.00"), None, superuser)
    event = AuditEvent.objects.get(action="budget_change")
    assert event.message == "Budget changed: monthly team cap: no cap → $20.00."
    assert event.actor == superuser
    assert LogEntry.objects.filter(action_flag=CHANGE, object_id="1").exists()
    page = root_client.get(BUDGET_URL)
    assert "$19.95 left" in page.text


def test_a_negative_cap_is_refused(root_client):
    response = root_client.post(BUDGET_URL, {"monthly_team_cap": "-1", "daily_user_cap": "", "_save": "Save"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not AuditEvent.objects.exists()


def test_a_generator_sees_the_budget_but_cannot_change_it(generator_client):
    page = generator_client.get(BUDGET_URL)
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    response = generator_client.post(BUDGET_URL, {"monthly_team_cap": "1000", "daily_user_cap": "", "_save": "Save"})
    assert response.status_code == 403
    assert Budget.current().monthly_team_cap is None
    assert not AuditEvent.objects.exists()


def test_a_viewer_sees_the_trail_but_changes_nothing(viewer_client):
    assert viewer_client.get(changelist_url("auditevent")).status_code == 200
    assert viewer_client.post(BUDGET_URL, {"monthly_team_cap": "1", "_save": "Save"}).status_code == 403
