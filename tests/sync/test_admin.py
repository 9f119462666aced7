"""The feed's admin pages: outcomes, quarantined records, blocks and alerts for clerks, read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from sync.models import Batch, QuarantinedRecord, SyncAlert
from sync.services import sync_run
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(settings) -> None:
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(inbox, 1, fu.family(), kind="full")
    fu.write_batch(inbox, 2, [fu.upsert("resident", fu.resident("R002", seed=2, birth_date="2001-02-29"))])
    fu.write_batch(inbox, 4, [fu.upsert("household", fu.household("H004"))])
    sync_run()
    sync_run()


def test_batches_list_shows_outcomes(admin_client, history):
    page = admin_client.get(reverse("admin:sync_batch_changelist"))

    assert page.status_code == 200
    assert "0000000002" in page.content.decode()
    assert {b.status for b in page.context["cl"].queryset} == {Batch.Status.APPLIED}


def test_quarantine_list_filters_unresolved_and_never_shows_the_my_number(admin_client, history):
    record = QuarantinedRecord.objects.get()

    listing = admin_client.get(reverse("admin:sync_quarantinedrecord_changelist"), {"unresolved": "yes"})
    detail = admin_client.get(reverse("admin:sync_quarantinedrecord_change", args=[record.pk]))

    assert list(listing.context["cl"].queryset) == [record]
    assert "生年月日" in detail.content.decode()
    assert fu.my_number(2) not in detail.content.decode()
    resolved = admin_client.get(reverse("admin:sync_quarantinedrecord_changelist"), {"unresolved": "no"})
    assert list(resolved.context["cl"].queryset) == []


def test_alerts_list_open_alerts_first(admin_client, history):
    SyncAlert.objects.create(
        kind=SyncAlert.Kind.STALE,
        message="古い",
        raised_at="2026-11-27T00:00:00+09:00",
        last_seen_at="2026-11-27T00:00:00+09:00",
        cleared_at="2026-11-27T01:00:00+09:00",
    )

    page = admin_client.get(reverse("admin:sync_syncalert_changelist"))

    alerts = list(page.context["cl"].queryset)
    assert alerts[0].kind == SyncAlert.Kind.GAP and alerts[0].cleared_at is None
    assert alerts[-1].cleared_at is not None


def test_feed_admin_is_read_only(admin_client, history):
    batch = Batch.objects.first()
    assert batch is not None

    assert admin_client.get(reverse("admin:sync_batch_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:sync_batch_delete", args=[batch.pk]), {"post": "yes"}).status_code
        == 403
    )
    for name in ("residentblock", "syncalert", "synccursor"):
        assert admin_client.get(reverse(f"admin:sync_{name}_changelist")).status_code == 200


def _staff(django_user_model, role: str | None):
    from staff import roles

    groups = roles.roles_ensure()
    user = django_user_model.objects.create_user(
        username=f"u-{role}", password="pw-for-tests-1", is_staff=True
    )
    if role:
        user.groups.add(groups[role])
    return user


def test_dashboard_shows_the_line_the_gap_alert_and_the_quarantine(client, django_user_model, history):
    from staff import roles

    client.force_login(_staff(django_user_model, roles.CLERK))
    page = client.get(reverse("admin:sync_batch_changelist"))

    dashboard = page.context["sync_dashboard"]
    assert dashboard["next_batch_number"] == 3
    assert dashboard["unresolved_quarantined"] == 1
    assert [alert.kind for alert in dashboard["open_alerts"]] == [SyncAlert.Kind.GAP]
    html = page.content.decode()
    assert "連携番号の欠番" in html and "0000000003" in html
    assert "今すぐ連携を実行" not in html  # a clerk only looks


def test_a_clerk_cannot_run_the_sync(client, django_user_model, settings):
    from staff import roles

    fu.write_batch(Path(settings.SYNC_INBOX_DIR), 1, fu.family(), kind="full")
    client.force_login(_staff(django_user_model, roles.CLERK))

    assert client.post(reverse("admin:sync_batch_run_now")).status_code == 403
    assert not Batch.objects.exists()


def test_a_supervisor_runs_the_sync_now_and_the_batch_is_audited_as_theirs(
    client, django_user_model, settings
):
    from audit.models import AuditEvent
    from staff import roles

    fu.write_batch(Path(settings.SYNC_INBOX_DIR), 1, fu.family(), kind="full")
    supervisor = _staff(django_user_model, roles.SUPERVISOR)
    client.force_login(supervisor)

    assert "今すぐ連携を実行" in client.get(reverse("admin:sync_batch_changelist")).content.decode()
    assert client.get(reverse("admin:sync_batch_run_now")).status_code == 405  # POST only
    response = client.post(reverse("admin:sync_batch_run_now"), follow=True)

    assert Batch.objects.get(number=1).status == Batch.Status.APPLIED
    assert "1件の連携バッチを適用しました。" in response.content.decode()
    event = AuditEvent.objects.get(action="sync.batch_applied")
    assert (event.actor_kind, event.actor_id) == ("clerk", str(supervisor.pk))
