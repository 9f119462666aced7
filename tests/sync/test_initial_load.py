"""The initial load (a full batch into an empty mirror) takes the bulk path of sync/services/bulk.py: one
binary COPY per entity group, foreign keys checked once at the end. It must write exactly what the
chunked path writes, keep the schema as it was, and fall back to the chunked path (which quarantines
a refused row) when PostgreSQL refuses a row mid-stream."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from sync.models import QuarantinedRecord
from sync.services import apply, bulk, sync_run
from sync.validation import ENTITY_ORDER, Clean, validate_tax_payment
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


def _city_in_entity_order() -> list[dict[str, Any]]:
    """Each entity's lines together, parents first: the order the streamed initial load needs."""
    return sorted(_city(), key=lambda line: ENTITY_ORDER.index(line["entity"]))


def _foreign_key_oids() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT oid FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
            [[model._meta.db_table for model in MIRROR]],
        )
        return {oid for (oid,) in cursor.fetchall()}


def test_as_the_application_role_the_initial_load_keeps_the_foreign_keys(settings):
    """The application's role owns no table (SPEC §6), so it may not drop a constraint: its
    initial load keeps the deferred per-row checks and leaves the constraints untouched."""
    before = _foreign_key_oids()
    assert not bulk.tables_owned(MIRROR)
    fu.write_batch(Path(settings.SYNC_INBOX_DIR), 1, _city_in_entity_order(), kind="full")

    assert sync_run().applied[0].records_quarantined == 0

    assert Resident.objects.count() == len(CODES)
    assert _foreign_key_oids() == before


@pytest.mark.django_db(transaction=True)
def test_as_the_owner_the_initial_load_checks_the_foreign_keys_once(settings, tmp_path):
    """What an operator runs once to fill the mirror fast: ``sync_run`` with the owner's URL."""
    before, definitions = _foreign_key_oids(), _foreign_keys()
    fu.write_batch(Path(settings.SYNC_INBOX_DIR), 1, _city_in_entity_order(), kind="full")
    owner = urlsplit(os.environ["DATABASE_OWNER_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    env = {
        **{key: value for key, value in os.environ.items() if key != "DATABASE_OWNER_URL"},
        "DATABASE_URL": urlunsplit(owner),
        "SYNC_INBOX_DIR": str(settings.SYNC_INBOX_DIR),
        "KONBINI_VAR_DIR": str(tmp_path / "var"),
        "SAGA_ENV": "development",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "sync_run"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert Resident.objects.count() == len(CODES)
    # Dropped and added back: new constraints, with the very same definitions.
    assert _foreign_key_oids().isdisjoint(before)
    assert _foreign_keys() == definitions
