"""SPEC §5: order, gaps, full replacement, never twice, archive, outage."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from residents.crypto import my_number_decrypt
from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from sync.errors import Misconfigured, RetryLater
from sync.models import Batch, SyncAlert, SyncCursor
from sync.services import sync_run
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(settings) -> Path:
    return Path(settings.SYNC_INBOX_DIR)


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _load_full(inbox: Path, number: int = 1) -> None:
    fu.write_batch(
        inbox, number, fu.family("H001", ("R001", "R002")) + fu.family("H002", ("R003",), seed=7), kind="full"
    )
    result = sync_run()
    assert [o.number for o in result.applied] == [number]


def test_first_full_batch_fills_the_mirror_and_moves_to_archive(inbox):
    written = fu.write_batch(inbox, 41, fu.family(), kind="full")

    result = sync_run()

    assert [o.number for o in result.applied] == [41]
    assert not result.line_stopped
    assert Household.objects.count() == 1
    assert set(Resident.objects.values_list("resident_code", flat=True)) == {"R001", "R002"}
    assert (
        SealRegistration.objects.count() == TaxAssessment.objects.count() == TaxPayment.objects.count() == 2
    )
    assert CardLink.objects.count() == 2
    assert _names(inbox) == {"archive"}
    assert _names(inbox / "archive") == {"0000000041.jsonl", "0000000041.manifest.json"}
    batch = Batch.objects.get(number=41)
    assert batch.status == Batch.Status.APPLIED
    assert (batch.records_declared, batch.records_applied, batch.records_quarantined) == (11, 11, 0)
    assert batch.sha256 == written.sha256
    assert batch.stored_as == "archive/0000000041.jsonl"
    cursor = SyncCursor.objects.get()
    assert cursor.next_batch_number == 42
    assert cursor.last_applied_at is not None and cursor.last_checked_at is not None
    assert Resident.objects.filter(synced_at__isnull=True).count() == 0


def test_my_number_is_stored_encrypted_only(inbox):
    fu.write_batch(inbox, 1, fu.family(), kind="full")
    sync_run()

    resident = Resident.objects.get(resident_code="R001")
    assert fu.my_number(1) not in resident.my_number_encrypted
    with connection.cursor() as cursor:
        cursor.execute("SELECT my_number_encrypted FROM residents_resident")
        raw_values = [row[0] for row in cursor.fetchall()]
    assert all(fu.my_number(1) not in value and fu.my_number(2) not in value for value in raw_values)
    assert my_number_decrypt(resident.my_number_encrypted, resident_code="R001") == fu.my_number(1)


def test_first_batch_must_be_full(inbox):
    fu.write_batch(inbox, 1, fu.family(), kind="delta")

    result = sync_run()

    assert result.stopped == "rejected"
    assert result.rejected[0].reason_code == "first_batch_not_full"
    assert Resident.objects.count() == 0
    assert SyncCursor.objects.get().next_batch_number is None


def test_batches_apply_strictly_in_number_order(inbox):
    _load_full(inbox)
    # Written out of order: 3 first. 2 sets an address, 3 sets another; order decides the result.
    fu.write_batch(inbox, 3, [fu.upsert("resident", fu.resident("R001", address="佐賀県佐賀市三番町3番地"))])
    fu.write_batch(inbox, 2, [fu.upsert("resident", fu.resident("R001", address="佐賀県佐賀市二番町2番地"))])

    result = sync_run()

    assert [o.number for o in result.applied] == [2, 3]
    assert Resident.objects.get(resident_code="R001").address == "佐賀県佐賀市三番町3番地"
    assert SyncCursor.objects.get().next_batch_number == 4


def test_gap_stops_the_line_with_one_alert_until_the_missing_batch_arrives(inbox, settings):
    _load_full(inbox)
    fu.write_batch(inbox, 3, [fu.upsert("resident", fu.resident("R001", given_name="三郎"))])

    first = sync_run()
    second = sync_run()

    assert first.stopped == second.stopped == "gap" and second.stopped_at == 2
    alerts = SyncAlert.objects.filter(kind=SyncAlert.Kind.GAP, cleared_at__isnull=True)
    assert alerts.count() == 1
    alert = alerts.get()
    assert alert.batch_number == 2 and alert.last_seen_at >= alert.raised_at
    assert Resident.objects.get(resident_code="R001").given_name == "太郎"
    assert "0000000003.jsonl" in _names(inbox)

    fu.write_batch(inbox, 2, [fu.upsert("resident", fu.resident("R001", given_name="次郎"))])
    caught_up = sync_run()

    assert [o.number for o in caught_up.applied] == [2, 3]
    assert not caught_up.line_stopped
    assert Resident.objects.get(resident_code="R001").given_name == "三郎"
    assert SyncAlert.objects.get(pk=alert.pk).cleared_at is not None


def test_a_batch_without_manifest_is_waited_for_while_being_written(inbox):
    _load_full(inbox)
    fu.write_batch(inbox, 2, [fu.upsert("household", fu.household("H009"))], with_manifest=False)

    result = sync_run()

    assert result.outcomes == [] and not result.line_stopped
    assert Batch.objects.filter(number=2).count() == 0
    assert "0000000002.jsonl" in _names(inbox)


def test_full_batch_replaces_the_mirror_and_keeps_internal_ids(inbox):
    _load_full(inbox)
    kept_id = Resident.objects.get(resident_code="R001").pk
    # The second full load lacks R002 and household H002 (with R003) entirely.
    lines = [fu.upsert("household", fu.household("H001")), fu.upsert("resident", fu.resident("R001"))]
    lines.append(fu.upsert("seal_registration", fu.seal("SR001", "R001")))
    fu.write_batch(inbox, 2, lines, kind="full")

    result = sync_run()

    assert result.applied[0].kind == "full"
    assert list(Resident.objects.values_list("resident_code", flat=True)) == ["R001"]
    assert Resident.objects.get(resident_code="R001").pk == kept_id
    assert list(Household.objects.values_list("household_code", flat=True)) == ["H001"]
    assert list(SealRegistration.objects.values_list("registration_number", flat=True)) == ["SR001"]
    assert TaxAssessment.objects.count() == TaxPayment.objects.count() == CardLink.objects.count() == 0


def test_leftover_of_a_crash_after_commit_is_only_archived(inbox):
    written = fu.write_batch(inbox, 1, fu.family(), kind="full")
    sync_run()
    # A crash between commit and the file move leaves the same bytes in the inbox.
    shutil.copy(inbox / "archive" / "0000000001.jsonl", written.jsonl)
    shutil.copy(inbox / "archive" / "0000000001.manifest.json", written.manifest)
    Resident.objects.filter(resident_code="R001").update(given_name="変更なし")

    result = sync_run()

    assert [o.status for o in result.outcomes] == ["leftover_archived"]
    assert Batch.objects.filter(number=1).count() == 1
    assert Resident.objects.get(resident_code="R001").given_name == "変更なし"
    assert _names(inbox) == {"archive"}
    assert len(_names(inbox / "archive")) == 4  # the leftover did not overwrite the first copies


def test_an_applied_number_with_other_content_is_rejected_not_applied_twice(inbox):
    _load_full(inbox)
    fu.write_batch(inbox, 1, [fu.upsert("resident", fu.resident("R001", given_name="二重"))], kind="full")

    result = sync_run()

    assert result.rejected[0].reason_code == "already_applied"
    assert Resident.objects.get(resident_code="R001").given_name == "太郎"
    assert Batch.objects.filter(number=1, status=Batch.Status.APPLIED).count() == 1
    assert _names(inbox / "rejected") == {"0000000001.jsonl", "0000000001.manifest.json"}


def test_inbox_outage_raises_an_alert_until_the_inbox_is_back(inbox):
    _load_full(inbox)
    hidden = inbox.with_name("inbox-away")
    inbox.rename(hidden)

    with pytest.raises(RetryLater):
        sync_run()

    alert = SyncAlert.objects.get(kind=SyncAlert.Kind.OUTAGE)
    assert alert.cleared_at is None
    hidden.rename(inbox)
    sync_run()
    alert.refresh_from_db()
    assert alert.cleared_at is not None


def test_names_outside_the_pattern_and_symlinks_are_never_followed(inbox, tmp_path):
    _load_full(inbox)
    outside = tmp_path / "secret.jsonl"
    outside.write_text('{"op": "upsert"}\n')
    (inbox / "notes.txt").write_text("hello")
    os.symlink(outside, inbox / "0000000002.jsonl")
    manifest = {
        "batch": 2,
        "kind": "delta",
        "records": 1,
        "sha256": "0" * 64,
        "created_at": "2026-11-26T09:00:00",
    }
    (inbox / "0000000002.manifest.json").write_text(json.dumps(manifest))

    result = sync_run()

    assert result.rejected[0].reason_code == "not_regular_file"
    assert (
        outside.read_text() == '{"op": "upsert"}\n'
    )  # the target was neither read into the mirror nor moved
    assert (inbox / "rejected" / "0000000002.jsonl").is_symlink()
    assert (inbox / "notes.txt").exists()


def test_audit_events_for_applied_batches(inbox):
    _load_full(inbox)
    fu.write_batch(
        inbox, 2, [fu.upsert("resident", fu.resident("R002", seed=2, given_name="花子", sex="female"))]
    )

    sync_run()

    event = AuditEvent.objects.filter(action="sync.batch_applied").order_by("-pk").first()
    assert event is not None
    assert event.actor_kind == AuditEvent.ActorKind.JOB and event.actor_id == "sync"
    assert event.payload["batch"] == 2 and event.payload["applied"] == 1
    assert event.resident_ids == [Resident.objects.get(resident_code="R002").pk]
    assert fu.my_number(2) not in str(event.payload)


def test_a_batch_not_grouped_by_entity_still_applies_parents_first(inbox):
    _load_full(inbox)
    lines = [
        fu.upsert("seal_registration", fu.seal("S700", "R700")),
        fu.upsert("resident", fu.resident("R700", "H700", seed=70)),
        fu.upsert("household", fu.household("H700", head_resident_code="R700")),
        fu.upsert("resident", fu.resident("R701", "H700", seed=71)),
    ]
    fu.write_batch(inbox, 2, lines)

    result = sync_run()

    assert result.applied[0].records_quarantined == 0
    assert Resident.objects.get(resident_code="R701").household.household_code == "H700"
    assert SealRegistration.objects.get(registration_number="S700").resident.resident_code == "R700"


def test_a_stale_mirror_raises_an_alert_until_a_batch_applies(inbox):
    _load_full(inbox)
    later = timezone.now() + timedelta(days=3)

    sync_run(now=later)

    alert = SyncAlert.objects.get(kind=SyncAlert.Kind.STALE)
    assert alert.cleared_at is None
    fu.write_batch(inbox, 2, [fu.upsert("household", fu.household("H002"))])
    sync_run(now=later)
    alert.refresh_from_db()
    assert alert.cleared_at is not None


def test_a_symlinked_archive_folder_is_a_misconfiguration(inbox, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, inbox / "archive")
    fu.write_batch(inbox, 1, fu.family(), kind="full")

    with pytest.raises(Misconfigured):
        sync_run()

    assert list(elsewhere.iterdir()) == []
    assert SyncAlert.objects.get(kind=SyncAlert.Kind.MISCONFIGURED).cleared_at is None
    assert Resident.objects.count() == 0


def test_a_full_batch_applied_in_chunks_keeps_the_last_line_per_key(inbox, monkeypatch):
    from sync.services import apply

    monkeypatch.setattr(apply, "WRITE_CHUNK", 2)  # force several chunks and a late rewrite
    lines = [fu.upsert("household", fu.household(f"H00{n}")) for n in (1, 2, 3)]
    lines.append(fu.upsert("resident", fu.resident("R001", given_name="最初")))
    lines += [fu.upsert("resident", fu.resident(f"R00{n}", f"H00{n % 3 + 1}", seed=n)) for n in (2, 3, 4, 5)]
    lines.append(fu.upsert("resident", fu.resident("R001", given_name="最後")))
    lines += [fu.upsert("tax_payment", fu.tax_payment(f"R00{n}")) for n in (1, 2, 3, 4, 5)]
    fu.write_batch(inbox, 1, lines, kind="full")

    result = sync_run()

    assert result.applied[0].records_quarantined == 0
    assert Resident.objects.count() == 5 and TaxPayment.objects.count() == 5
    assert Resident.objects.get(resident_code="R001").given_name == "最後"
    # A second full load without R005 removes it and its payment, in chunks too.
    lines = [line for line in lines if "R005" not in str(line)]
    fu.write_batch(inbox, 2, lines, kind="full")
    sync_run()
    assert not Resident.objects.filter(resident_code="R005").exists()
    assert TaxPayment.objects.count() == 4
