"""The initial load (a full batch into an empty mirror) takes the bulk path of sync/services/bulk.py: one
binary COPY per entity group, foreign keys checked once at the end. It must write exactly what the
chunked path writes, keep the schema as it was, and fall back to the chunked path (which quarantines
a refused row) when PostgreSQL refuses a row mid-stream."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from sync.models import QuarantinedRecord
from sync.services import apply, bulk, sync_run
from sync.validation import Clean, validate_tax_payment
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db

MIRROR = (Household, Resident, SealRegistration, TaxAssessment, TaxPayment, CardLink)
CODES = tuple(f"R{n:03d}" for n in range(1, 10))


def _city() -> list[dict[str, Any]]:
    return (
        fu.family("H001", CODES[:4])
        + fu.family("H002", CODES[4:7], seed=20)
        + fu.family("H003", CODES[7:], seed=40)
    )


def _foreign_keys() -> set[tuple[str, str, str, bool, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), condeferrable, condeferred "
            "FROM pg_constraint WHERE contype = 'f'"
        )
        return set(cursor.fetchall())


def _mirror() -> dict[str, list[tuple[Any, ...]]]:
    """The mirror's content without ids and times (they differ between two loads)."""
    skip = {"id", "synced_at", "my_number_encrypted", "household", "resident"}
    return {
        model.__name__: sorted(
            tuple(str(v) for v in row)
            for row in model.objects.values_list(
                *[f.name for f in model._meta.concrete_fields if f.name not in skip]
            )
        )
        for model in MIRROR
    }


@pytest.fixture
def counted_streams(monkeypatch) -> list[str]:
    opened: list[str] = []

    class Counted(bulk.CopyStream):
        def __init__(self, *, table: str, columns: list[str], types: list[int]) -> None:
            opened.append(table)
            super().__init__(table=table, columns=columns, types=types)

    monkeypatch.setattr(apply, "CopyStream", Counted)
    return opened


def test_initial_load_streams_each_group_once_and_keeps_the_schema(settings, monkeypatch, counted_streams):
    assert connection.vendor == "postgresql"
    monkeypatch.setattr(apply, "WRITE_CHUNK", 4)  # several chunks per group, one COPY per group
    before = _foreign_keys()
    fu.write_batch(Path(settings.SYNC_INBOX_DIR), 1, _city(), kind="full")

    outcome = sync_run().applied[0]

    assert outcome.records_quarantined == 0
    assert sorted(counted_streams) == sorted(
        m._meta.db_table
        for m in MIRROR
        if m is not SealRegistration  # seals apply as a whole group
    )
    assert _foreign_keys() == before  # dropped and added back, identical, still deferrable
    assert Resident.objects.count() == len(CODES)
    # jsonb through the binary COPY: queryable as JSON, not stored as a string.
    assert TaxAssessment.objects.filter(income__給与所得=3_560_000).count() == len(CODES)
    assert {a.deductions["社会保険料控除"] for a in TaxAssessment.objects.all()} == {520_000}
    households = dict(Resident.objects.values_list("resident_code", "household__household_code"))
    assert households == {
        code: "H001" if code in CODES[:4] else "H002" if code in CODES[4:7] else "H003" for code in CODES
    }


def test_initial_load_writes_what_the_chunked_path_writes(settings, monkeypatch):
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(inbox, 1, _city(), kind="full")
    sync_run()
    streamed = _mirror()

    # The same batch again is a full re-load of a filled mirror: the chunked upsert path.
    for model in reversed(MIRROR):
        model.objects.all().delete()
    monkeypatch.setattr(apply, "_initial_load_speedups", lambda manifest: contextlib.nullcontext())
    monkeypatch.setattr(apply._BatchApplier, "_stream_for", _refuse_streaming)
    fu.write_batch(inbox, 2, _city(), kind="full")
    sync_run()

    assert _mirror() == streamed


def _refuse_streaming(self: Any, entity: str, rows: Any) -> Any:
    raise bulk.CopyStreamFailed


def test_a_row_refused_mid_stream_falls_back_to_the_chunked_path_and_is_quarantined(
    settings, monkeypatch, counted_streams
):
    # Let an unbalanced payment through validation so that only the database's CHECK can refuse it.
    def lenient(key: str, data: Any) -> Clean:
        balanced = validate_tax_payment(key, {**data, "unpaid": data["assessed"] - data["paid"]})
        return Clean(
            values={**balanced.values, "unpaid": data["unpaid"]}, resident_code=balanced.resident_code
        )

    monkeypatch.setitem(apply.VALIDATORS, "tax_payment", lenient)
    monkeypatch.setattr(apply, "WRITE_CHUNK", 4)
    before = _foreign_keys()
    lines = _city()
    bad = next(i for i, line in enumerate(lines) if line["entity"] == "tax_payment")
    lines[bad]["data"]["unpaid"] += 5
    fu.write_batch(Path(settings.SYNC_INBOX_DIR), 1, lines, kind="full")

    outcome = sync_run().applied[0]

    assert "residents_taxpayment" in counted_streams  # the stream was tried, and refused
    assert outcome.records_quarantined == 1
    assert QuarantinedRecord.objects.get().reason_code == "db_refused"
    assert TaxPayment.objects.count() == len(CODES) - 1
    assert Resident.objects.count() == len(CODES) and CardLink.objects.count() == len(CODES)
    assert _foreign_keys() == before
