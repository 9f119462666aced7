"""SPEC §5: a defective batch is rejected whole, kept in rejected/, and stops the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audit.models import AuditEvent
from residents.models import Household, Resident
from sync.models import Batch, SyncAlert, SyncCursor
from sync.services import sync_run
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(settings) -> Path:
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(inbox, 1, fu.family(), kind="full")
    assert sync_run().applied
    return inbox


def _good_lines() -> list[Any]:
    return [
        fu.upsert("household", fu.household("H050")),
        fu.upsert("resident", fu.resident("R050", "H050", seed=50)),
    ]


def _body(lines: list[Any]) -> bytes:
    return b"".join((json.dumps(line, ensure_ascii=False) + "\n").encode() for line in lines)


DEFECTS: dict[str, dict[str, Any]] = {
    "checksum_mismatch": {"sha256": "ab" * 32},
    "record_count_mismatch": {"records": 5},
    "unparseable_line": {"raw": _body(_good_lines()) + b'{"op": "upsert", "entity": \n'},
    "not_utf8": {"raw": _body(_good_lines()) + b'{"op": "upsert", "entity": "household", "key": "\xff"}\n'},
    "line_not_object": {"raw": _body(_good_lines()) + b"[1, 2]\n"},
    "unknown_op": {"raw": _body([*_good_lines(), {"op": "merge", "entity": "household", "key": "H050"}])},
    "unknown_entity": {
        "raw": _body([*_good_lines(), {"op": "upsert", "entity": "pet", "key": "P1", "data": {}}])
    },
    "manifest_invalid": {"manifest_override": {"kind": "partial"}},
}


@pytest.mark.parametrize("reason_code", sorted(DEFECTS))
def test_defective_batch_is_rejected_whole_and_stops_the_line(inbox, reason_code):
    fu.write_batch(inbox, 2, _good_lines(), **DEFECTS[reason_code])
    fu.write_batch(inbox, 3, [fu.upsert("household", fu.household("H060"))])

    result = sync_run()

    assert result.stopped == "rejected" and result.stopped_at == 2
    assert [o.reason_code for o in result.rejected] == [reason_code]
    # Nothing of batch 2 applied, and batch 3 waits behind it.
    assert not Household.objects.filter(household_code__in=["H050", "H060"]).exists()
    assert not Resident.objects.filter(resident_code="R050").exists()
    assert SyncCursor.objects.get().next_batch_number == 2
    assert {p.name for p in (inbox / "rejected").iterdir()} == {
        "0000000002.jsonl",
        "0000000002.manifest.json",
    }
    assert (inbox / "0000000003.jsonl").exists()
    batch = Batch.objects.get(number=2)
    assert batch.status == Batch.Status.REJECTED and batch.reason_code == reason_code and batch.reason
    assert batch.stored_as == "rejected/0000000002.jsonl"
    assert SyncAlert.objects.get(kind=SyncAlert.Kind.REJECTED, cleared_at__isnull=True).batch_number == 2
    event = AuditEvent.objects.get(action="sync.batch_rejected")
    assert event.payload == {"batch": 2, "kind": batch.kind, "reason_code": reason_code}


def test_delete_in_a_full_batch_rejects_it(inbox):
    fu.write_batch(inbox, 2, [*_good_lines(), fu.delete("resident", "R001")], kind="full")

    result = sync_run()

    assert result.rejected[0].reason_code == "delete_in_full"
    assert Resident.objects.filter(resident_code="R001").exists()


def test_missing_manifest_is_rejected_once_a_later_batch_is_complete(inbox):
    fu.write_batch(inbox, 2, _good_lines(), with_manifest=False)
    fu.write_batch(inbox, 3, [fu.upsert("household", fu.household("H060"))])

    result = sync_run()

    assert result.rejected[0].reason_code == "manifest_missing"
    assert {p.name for p in (inbox / "rejected").iterdir()} == {"0000000002.jsonl"}
    assert not Household.objects.filter(household_code="H060").exists()


def test_the_stopped_line_stays_stopped_until_a_corrected_batch_applies(inbox):
    fu.write_batch(inbox, 2, _good_lines(), records=9)
    fu.write_batch(inbox, 3, [fu.upsert("household", fu.household("H060"))])
    sync_run()

    again = sync_run()
    assert again.stopped == "rejected" and again.outcomes == []

    fu.write_batch(inbox, 2, _good_lines())
    result = sync_run()

    assert [o.number for o in result.applied] == [2, 3]
    assert Resident.objects.filter(resident_code="R050").exists()
    assert Household.objects.filter(household_code="H060").exists()
    assert not SyncAlert.objects.filter(cleared_at__isnull=True).exists()
    assert Batch.objects.filter(number=2).count() == 2  # the rejection stays on record


def test_a_second_rejection_of_the_same_name_overwrites_nothing(inbox):
    fu.write_batch(inbox, 2, _good_lines(), records=9)
    sync_run()
    fu.write_batch(inbox, 2, _good_lines(), records=8)

    sync_run()

    names = sorted(p.name for p in (inbox / "rejected").iterdir())
    assert len(names) == 4
    assert names[:2] == ["0000000002.jsonl", "0000000002.jsonl." + names[1].split(".", 2)[2]]
    manifests = [json.loads((inbox / "rejected" / n).read_text()) for n in names if "manifest" in n]
    assert sorted(m["records"] for m in manifests) == [8, 9]


def test_data_missing_with_manifest_is_rejected(inbox):
    written = fu.write_batch(inbox, 2, _good_lines())
    written.jsonl.unlink()

    result = sync_run()

    assert result.rejected[0].reason_code == "data_missing"


@pytest.mark.parametrize(
    "bad_line",
    [
        b'{"op": "upsert", "entity": "household", "key": "H070", "data": {}} trailing\n',
        b'{"op": "upsert", "entity": "tax_payment", "key": "R001:2025:x", "data": {"paid": NaN}}\n',
        b"\n",
    ],
)
def test_lines_that_are_not_exactly_one_json_value_reject_the_batch(inbox, bad_line):
    fu.write_batch(inbox, 2, [], raw=_body(_good_lines()) + bad_line)

    result = sync_run()

    assert [o.reason_code for o in result.rejected] == ["unparseable_line"]
    assert not Resident.objects.filter(resident_code="R050").exists()
