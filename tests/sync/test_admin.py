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
