"""Generation actions: cancel, retry, remix, archive again, delete; from the list and the change page.

Each reports per item, goes through generations.actions (audit trail) and writes the admin log.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.files.storage import default_storage
from django.urls import reverse

from generations.models import AuditEvent, Budget, Generation

from .conftest import change_url, changelist_url, messages_of, run_action

pytestmark = pytest.mark.django_db
S = Generation.Status


def short(generation) -> str:
    return str(generation.code)[:8]


def log_messages(obj, flag=CHANGE) -> list[str]:
    return list(
        LogEntry.objects.filter(object_id=str(obj.pk), action_flag=flag).values_list("change_message", flat=True)
    )


def test_cancel_reports_each_item(root_client, make_generation, no_workers):
    pending = make_generation(S.PENDING)
    queued = make_generation(S.IN_QUEUE, queue_position=2)
    done = make_generation(S.COMPLETED)
    response = run_action(root_client, "cancel_selected", [pending, queued, done])
    assert messages_of(response) == [f"2 cancelled; 1 skipped ({short(done)}): already completed"]
    for g in (pending, queued, done):
        g.refresh_from_db()
    assert (pending.status, queued.status, done.status) == (S.CANCELLED, S.CANCELLING, S.COMPLETED)
    no_workers.fal_cancel.assert_called_once_with(queued.fal_request_id)
    assert set(AuditEvent.objects.filter(action="cancel").values_list("generation", flat=True)) == {
        pending.pk,
        queued.pk,
    }
    assert log_messages(pending) == ["Cancelled (now cancelled)."]
    assert log_messages(queued) == ["Cancelled (now cancelling)."]
    assert log_messages(done) == []


def test_cancel_when_fal_does_not_answer_says_so(root_client, make_generation, no_workers):
    from generations.fal_gateway import FalError

    running = make_generation(S.IN_PROGRESS)
    no_workers.fal_cancel.side_effect = FalError("fal is down", code="unavailable", permanent=False)
    response = run_action(root_client, "cancel_selected", [running])
    [message] = messages_of(response)
    assert message == (
        f"1 not confirmed ({short(running)}): marked cancelling, but fal could not be reached (fal is down); "
        "it is checked again"
    )
    running.refresh_from_db()
    assert running.status == S.CANCELLING
    no_workers.schedule_poll.assert_called_once_with(running.pk, 0)


def test_retry_makes_a_new_generation_for_failed_and_cancelled_ones(root_client, make_generation):
    failed = make_generation(S.FAILED, error_code="fal_422", error_message="Unprocessable")
    cancelled = make_generation(S.CANCELLED)
    running = make_generation(S.IN_PROGRESS)
    response = run_action(root_client, "retry_selected", [failed, cancelled, running])
    retries = {g.retry_of_id: g for g in Generation.objects.filter(retry_of__isnull=False)}
    assert set(retries) == {failed.pk, cancelled.pk}
    new = retries[failed.pk]
    assert (new.status, new.prompt_text, new.resolution, new.seed) == (S.PENDING, failed.prompt_text, "480p", None)
    [message] = messages_of(response)
    assert message.startswith("2 retried (new: ")
    assert f'<a href="{change_url(new)}">{short(new)}</a>' in message
    assert message.endswith(f"1 skipped ({short(running)}): still running (only failed or cancelled ones)")
    assert AuditEvent.objects.filter(action="retry").count() == 2
    assert log_messages(failed) == [f"Retried as generation {new.code}."]
    assert log_messages(new, ADDITION) == [f"Retried from generation {failed.code}."]


def test_retrying_a_content_policy_refusal_unchanged_asks_first(root_client, make_generation):
    refused = make_generation(S.FAILED, error_code="content_policy_violation", error_message="fal: flagged")
    other = make_generation(S.FAILED, error_code="request_timeout")
    response = run_action(root_client, "retry_selected", [refused, other])
    # Nothing is spent yet: a page asks, naming the refusal.
    assert response.status_code == 200
    assert "Retry again anyway?" in response.text
    assert short(refused) in response.text and "content checker refused" in response.text
    assert 'name="confirm_retry" value="yes"' in response.text
    assert not Generation.objects.filter(retry_of__isnull=False).exists()
    assert not AuditEvent.objects.filter(action="retry").exists()
    # Confirmed: both are retried.
    response = run_action(root_client, "retry_selected", [refused, other], confirm_retry="yes")
    assert set(Generation.objects.filter(retry_of__isnull=False).values_list("retry_of", flat=True)) == {
        refused.pk,
        other.pk,
    }


def test_a_content_policy_refusal_is_not_retried_unconfirmed_by_code_either(make_generation, superuser):
    from generations import actions

    refused = make_generation(S.FAILED, error_code="content_policy_violation")
    with pytest.raises(actions.NeedsConfirmation, match="content checker refused"):
        actions.retry(refused, user=superuser)
    assert actions.retry(refused, user=superuser, confirmed=True).retry_of == refused


def test_retry_stops_at_the_budget(root_client, make_generation):
    first, second = make_generation(S.FAILED), make_generation(S.FAILED)
    # Failed ones cost nothing; one retry costs $0.0486.
    Budget.objects.update_or_create(pk=1, defaults={"monthly_team_cap": Decimal("0.06")})
    response = run_action(root_client, "retry_selected", [first, second])
    assert Generation.objects.filter(retry_of__isnull=False).count() == 1
    [message] = messages_of(response)
    assert "1 retried" in message
    assert "1 skipped" in message
    assert "over budget: This would cost $0.0486, but only $0.0114 of the team&#x27;s monthly budget" in message


def test_remix_uses_the_same_inputs_with_a_new_random_seed(root_client, make_generation):
    original = make_generation(S.COMPLETED, seed=9)
    response = run_action(root_client, "remix_selected", [original])
    new = Generation.objects.get(retry_of=original)
    assert (new.seed, new.prompt_text, new.source_image_id) == (None, original.prompt_text, original.source_image_id)
    assert messages_of(response)[0].startswith("1 remixed (new: ")
    assert AuditEvent.objects.get(generation=new).action == "remix"


def test_remix_with_an_edited_prompt_opens_the_generate_page(root_client, make_generation):
    original = make_generation(S.COMPLETED)
    response = run_action(root_client, "remix_with_edited_prompt", [original])
    assert (
        response.redirect_chain[-1][0] == reverse("admin:generations_generation_generate") + f"?remix={original.code}"
    )
    other = make_generation(S.FAILED)
    response = run_action(root_client, "remix_with_edited_prompt", [original, other])
    assert messages_of(response) == ["Choose exactly one generation to remix with an edited prompt."]


def test_archive_again_only_for_failed_archives_with_a_fal_url(root_client, make_generation, no_workers):
    lost = make_generation(S.FAILED, fal_video_url="https://fal.media/v.mp4", error_code="archive_failed")
    never_made = make_generation(S.FAILED, error_code="fal_422")
    done = make_generation(S.COMPLETED)
    response = run_action(root_client, "retry_archive_selected", [lost, never_made, done])
    lost.refresh_from_db()
    assert lost.status == S.ARCHIVING
    no_workers.schedule_archive.assert_called_once_with(lost.pk)
    [message] = messages_of(response)
    assert message.startswith("1 sent to be archived again; ")
    assert f"1 skipped ({short(never_made)}): already failed (no video at fal to archive)" in message
    assert f"1 skipped ({short(done)}): already completed (only failed ones)" in message
    assert AuditEvent.objects.get(action="archive_retry").generation == lost
    assert log_messages(lost) == ["Archive retried from fal's kept URL."]


@pytest.mark.parametrize("delete_files", [True, False])
def test_delete_confirms_then_deletes_through_the_audited_action(
    root_client, make_generation, settings, django_capture_on_commit_callbacks, delete_files
):
    settings.DELETE_ARCHIVED_FILES = delete_files
    done = make_generation(S.COMPLETED)
    failed = make_generation(S.FAILED)
    running = make_generation(S.IN_PROGRESS)
    names = [done.video.name, done.poster.name]
    confirmation = run_action(root_client, "delete_selected", [done, failed, running])
    assert "Are you sure you want to delete the selected generations?" in confirmation.text
    assert messages_of(confirmation) == [
        "1 of the selected generations have not ended and will be kept (cancel them first)."
    ]
    # The confirmation page resubmits only the ended ones.
    assert list(confirmation.context["queryset"]) == [failed, done] or set(confirmation.context["queryset"]) == {
        done,
        failed,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(root_client, "delete_selected", [done, failed], post="yes")
    assert messages_of(response) == ["2 deleted"]
    assert list(Generation.objects.all()) == [running]
    events = AuditEvent.objects.filter(action="delete")
    assert {e.generation_code for e in events} == {done.code, failed.code}
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 2
    assert [default_storage.exists(n) for n in names] == [not delete_files] * 2


def test_delete_of_a_running_generation_is_refused(root_client, make_generation):
    running = make_generation(S.IN_QUEUE)
    response = run_action(root_client, "delete_selected", [running])
    assert messages_of(response) == ["None of the selected generations has ended; cancel them before deleting."]
    response = run_action(root_client, "delete_selected", [running], post="yes")
    assert messages_of(response) == [
        f"1 skipped ({short(running)}): still running (in fal&#x27;s queue); cancel it first"
    ]
    assert Generation.objects.filter(pk=running.pk).exists()
    delete_url = reverse("admin:generations_generation_delete", args=[running.pk])
    assert root_client.get(delete_url).status_code == 403
    assert root_client.post(delete_url, {"post": "yes"}).status_code == 403


def test_the_change_page_delete_goes_through_the_action(root_client, make_generation, settings):
    settings.DELETE_ARCHIVED_FILES = False
    done = make_generation(S.COMPLETED)
    delete_url = reverse("admin:generations_generation_delete", args=[done.pk])
    assert root_client.get(delete_url).status_code == 200
    response = root_client.post(delete_url, {"post": "yes"})
    assert response.status_code == 302
    assert not Generation.objects.exists()
    event = AuditEvent.objects.get(action="delete")
    assert event.generation_code == done.code
    assert event.details["files_deleted"] is False
    assert LogEntry.objects.filter(action_flag=DELETION, object_id=str(done.pk)).exists()


def test_change_page_buttons_run_the_action_and_come_back(root_client, make_generation):
    failed = make_generation(S.FAILED, fal_video_url="https://fal.media/v.mp4")
    page = root_client.get(change_url(failed))
    buttons = [name for name, _ in page.context["buttons"]]
    assert buttons == ["retry_selected", "remix_selected", "retry_archive_selected"]
    run = reverse("admin:generations_generation_run", args=[failed.pk, "retry_selected"])
    assert f'action="{run}"' in page.text
    response = root_client.post(run)
    assert response["Location"] == change_url(failed)
    assert Generation.objects.filter(retry_of=failed).count() == 1
    assert root_client.get(run).status_code == 405

    queued = make_generation(S.IN_QUEUE)
    assert [n for n, _ in root_client.get(change_url(queued)).context["buttons"]] == [
        "cancel_selected",
        "remix_selected",
    ]
    root_client.post(reverse("admin:generations_generation_run", args=[queued.pk, "cancel_selected"]))
    queued.refresh_from_db()
    assert queued.status == S.CANCELLING


def test_a_viewer_is_offered_no_actions_and_refused_them(viewer_client, make_generation):
    failed = make_generation(S.FAILED)
    page = viewer_client.get(changelist_url())
    assert page.status_code == 200
    assert page.context["action_form"] is None or not [
        c for c, _ in page.context["action_form"].fields["action"].choices if c
    ]
    run_action(viewer_client, "retry_selected", [failed])
    run_action(viewer_client, "delete_selected", [failed], post="yes")
    assert list(Generation.objects.all()) == [failed]
    assert page.context["cl"].model_admin.get_actions(page.wsgi_request) == {}
    change_page = viewer_client.get(change_url(failed))
    assert change_page.context["buttons"] == []
    assert change_page.context["remix_url"] is None
    run = reverse("admin:generations_generation_run", args=[failed.pk, "retry_selected"])
    assert viewer_client.post(run).status_code == 403
    assert not Generation.objects.filter(retry_of=failed).exists()


def test_a_generator_may_cancel_retry_and_remix_but_not_delete(generator_client, make_generation):
    page = generator_client.get(changelist_url())
    offered = {c for c, _ in page.context["action_form"].fields["action"].choices if c}
    assert offered == {
        "cancel_selected",
        "retry_selected",
        "remix_selected",
        "remix_with_edited_prompt",
        "retry_archive_selected",
    }
    done = make_generation(S.COMPLETED)
    delete_url = reverse("admin:generations_generation_delete", args=[done.pk])
    assert generator_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Generation.objects.filter(pk=done.pk).exists()


# --- issue 12, item 5: one live retry per failed generation ------------------------------------


def test_a_second_retry_asks_first_and_a_retry_that_failed_does_not_count(make_generation, superuser):
    from generations import actions

    failed = make_generation(S.FAILED, error_code="request_timeout")
    first = actions.retry(failed, user=superuser)
    with pytest.raises(actions.NeedsConfirmation, match=f"already retried as {short(first)}"):
        actions.retry(failed, user=superuser)
    assert Generation.objects.filter(retry_of=failed).count() == 1
    # "Retry again anyway?" — yes.
    second = actions.retry(failed, user=superuser, confirmed=True)
    assert second.retry_of == failed
    # Once those retries have failed too, retrying is an ordinary retry again.
    Generation.objects.filter(retry_of=failed).update(status=S.FAILED, cost=0)
    assert actions.retry(failed, user=superuser).retry_of == failed
    # A remix (new seed) is not a retry and does not block one.
    other = make_generation(S.FAILED)
    actions.remix(other, user=superuser)
    assert actions.retry(other, user=superuser).retry_of == other


@pytest.mark.django_db(transaction=True)
def test_parallel_retries_of_one_failed_generation_make_one_paid_generation(make_generation, superuser):
    import threading

    from django.db import connection
    from django.test import Client

    failed = make_generation(S.FAILED, error_code="request_timeout")
    barrier = threading.Barrier(5)
    statuses = []

    def click():
        client = Client()
        client.force_login(superuser)
        try:
            barrier.wait(timeout=10)
            response = client.post(
                changelist_url("generation"),
                {"action": "retry_selected", "_selected_action": [failed.pk], "index": 0},
                follow=True,
            )
            # The page's own text: response.context is not per-thread (template signals are global).
            statuses.append(response.content.decode())
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(statuses) == 5
    # One retry made; the other four were told it was already retried ("retry again anyway?"),
    # on the confirmation page or, when they raced past it, in the list's message; none spent.
    assert Generation.objects.filter(retry_of=failed).count() == 1
    assert AuditEvent.objects.filter(action="retry").count() == 1
    assert sum("1 retried" in text for text in statuses) == 1
    assert sum("already retried" in text and "Retry again anyway?" in text for text in statuses) == 4
