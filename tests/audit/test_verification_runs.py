"""「今すぐ検証する」 on the chain page: a POST that queues the verification for the worker, and the
task that runs it, stores its result and records ``audit.verify``."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditChainLink, AuditEvent, AuditVerificationRun
from audit.tasks import audit_verify_task
from tests.audit.conftest import AS_OWNER, triggers_disabled

pytestmark = pytest.mark.django_db

REFRESH = '<meta http-equiv="refresh" content="5">'
Status = AuditVerificationRun.Status


def _press(client, django_capture_on_commit_callbacks, **headers):
    """POST 「今すぐ検証する」 without running the task; returns the callbacks queued on commit."""
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("audit:chain_verify"), **headers)
    assert response.status_code == 303 and response["Location"] == reverse("audit:chain")
    return callbacks


def test_get_is_refused_and_starts_nothing(client, auditor, record_events):
    record_events(2)
    client.force_login(auditor)
    before = AuditEvent.objects.count()

    for method in (client.get, client.put, client.delete):
        assert method(reverse("audit:chain_verify")).status_code == 405

    assert not AuditVerificationRun.objects.exists()
    assert AuditEvent.objects.count() == before


def test_only_auditors_may_start_a_verification(client, clerk):
    anonymous = client.post(reverse("audit:chain_verify"))
    client.force_login(clerk)
    staff = client.post(reverse("audit:chain_verify"))

    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("admin:login"))
    assert staff.status_code == 403
    assert not AuditVerificationRun.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(auditor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(auditor)

    assert client.post(reverse("audit:chain_verify")).status_code == 403
    assert not AuditVerificationRun.objects.exists()


def test_a_second_press_while_one_is_queued_starts_nothing(
    client, auditor, record_events, django_capture_on_commit_callbacks
):
    record_events(2)
    client.force_login(auditor)

    first = _press(client, django_capture_on_commit_callbacks)
    second = _press(client, django_capture_on_commit_callbacks)

    assert len(first) == 1 and second == []
    run = AuditVerificationRun.objects.get()
    assert run.status == Status.QUEUED and run.requested_by == auditor and run.language == "ja"


@pytest.mark.parametrize("status", [Status.QUEUED, Status.RUNNING])
def test_a_run_stuck_for_over_an_hour_does_not_block(
    client, auditor, record_events, django_capture_on_commit_callbacks, status
):
    record_events(2)
    long_ago = timezone.now() - timedelta(hours=1, minutes=1)
    stuck = AuditVerificationRun.objects.create(requested_by=auditor, language="ja", status=status)
    AuditVerificationRun.objects.filter(pk=stuck.pk).update(
        requested_at=long_ago, started_at=long_ago if status == Status.RUNNING else None
    )
    client.force_login(auditor)

    assert REFRESH not in client.get(reverse("audit:chain")).content.decode()
    callbacks = _press(client, django_capture_on_commit_callbacks)

    assert len(callbacks) == 1
    assert AuditVerificationRun.objects.filter(status=Status.QUEUED).exclude(pk=stuck.pk).count() == 1


def test_the_page_refreshes_while_running_and_not_after(
    client, auditor, record_events, django_capture_on_commit_callbacks
):
    record_events(3)
    client.force_login(auditor)
    _press(client, django_capture_on_commit_callbacks)
    run = AuditVerificationRun.objects.get()

    queued = client.get(reverse("audit:chain")).content.decode()
    AuditVerificationRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, started_at=timezone.now())
    running = client.get(reverse("audit:chain")).content.decode()
    AuditVerificationRun.objects.filter(pk=run.pk).update(status=Status.QUEUED, started_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        audit_verify_task(run.pk)
    done = client.get(reverse("audit:chain")).content.decode()

    for page in (queued, running):
        assert REFRESH in page and "検証を実行中です" in page
    assert "待機中(kansa さんが" in queued and "実行中(kansa さんが" in running
    assert REFRESH not in done and "検証を実行中です" not in done
    assert "異常なし(kansa さんが" in done
    assert "異常はありません。3 件の記録と 0 件のチェックポイントを確認しました。" in done


def test_the_task_records_the_verification_with_the_auditor_as_actor(
    client, auditor, record_events, django_capture_on_commit_callbacks
):
    record_events(3)
    client.force_login(auditor)
    _press(client, django_capture_on_commit_callbacks)
    run = AuditVerificationRun.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        audit_verify_task(run.pk)

    run.refresh_from_db()
    assert run.status == Status.OK and run.started_at and run.finished_at
    assert (run.events_checked, run.checkpoints_checked, run.break_code) == (3, 0, "")
    event = AuditEvent.objects.get(action="audit.verify")
    assert (event.actor_kind, event.actor_id, event.actor_label) == ("auditor", str(auditor.pk), "kansa")
    assert (event.outcome, event.reason) == ("success", "")
    assert event.payload == {"events_checked": 3, "checkpoints_checked": 0, "break_seq": 0}


def test_a_duplicate_delivery_does_nothing(
    client, auditor, record_events, django_capture_on_commit_callbacks
):
    record_events(2)
    client.force_login(auditor)
    _press(client, django_capture_on_commit_callbacks)
    run = AuditVerificationRun.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        audit_verify_task(run.pk)
    first = AuditVerificationRun.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        audit_verify_task(run.pk)

    assert AuditEvent.objects.filter(action="audit.verify").count() == 1
    again = AuditVerificationRun.objects.get()
    assert again.status == Status.OK
    assert (again.started_at, again.finished_at) == (first.started_at, first.finished_at)


@AS_OWNER
def test_a_break_is_stored_and_shown_in_the_language_of_the_auditor_who_asked(
    client, auditor, record_events, django_capture_on_commit_callbacks
):
    events = record_events(3)
    altered = events[1]
    seq = AuditChainLink.objects.get(event=altered).seq
    with triggers_disabled("audit_auditevent") as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [altered.pk])
    client.force_login(auditor)
    _press(client, django_capture_on_commit_callbacks, HTTP_ACCEPT_LANGUAGE="en")
    run = AuditVerificationRun.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        audit_verify_task(run.pk)

    run.refresh_from_db()
    assert run.language == "en" and run.status == Status.BROKEN
    assert (run.break_code, run.break_seq, run.break_event_id) == ("event_altered", seq, altered.pk)
    assert run.break_message.startswith(f"Sequence number {seq}")
    event = AuditEvent.objects.get(action="audit.verify")
    assert (event.outcome, event.reason, event.payload["break_seq"]) == ("failure", "event_altered", seq)
    # Another auditor reading the page in Japanese sees the problem as it was worded for the one who asked.
    page = client.get(reverse("audit:chain")).content.decode()
    assert "改ざんまたは欠落を検出しました" in page and run.break_message in page
    assert f"<dd>{seq}</dd>" in page and "event_altered" in page


def test_an_unexpected_error_marks_the_run_and_keeps_only_its_class(
    client, auditor, record_events, django_capture_on_commit_callbacks, monkeypatch
):
    record_events(2)
    client.force_login(auditor)
    _press(client, django_capture_on_commit_callbacks)
    run = AuditVerificationRun.objects.get()

    def fail(**kwargs):
        raise RuntimeError("R000000101 鍋島 花子")

    monkeypatch.setattr("audit.verification.chain_verify", fail)
    with pytest.raises(RuntimeError):
        audit_verify_task(run.pk)

    run.refresh_from_db()
    assert (run.status, run.break_code, run.break_message) == (Status.ERROR, "RuntimeError", "")
    assert run.finished_at is not None
    assert not AuditEvent.objects.filter(action="audit.verify").exists()
    page = client.get(reverse("audit:chain")).content.decode()
    assert "検証を完了できませんでした(RuntimeError)" in page and REFRESH not in page
