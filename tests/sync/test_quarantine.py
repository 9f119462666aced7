"""SPEC §5: a failing record is quarantined, its residents blocked, the rest of the batch applies;
a later valid record for the same key resolves it and releases the blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audit.models import AuditEvent
from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from sync.models import Batch, QuarantinedRecord, ResidentBlock
from sync.redaction import MY_NUMBER_MARKER
from sync.selectors import resident_codes_sync_blocked
from sync.services import apply, sync_run
from sync.validation import Clean, validate_tax_payment
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(settings) -> Path:
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(
        inbox, 1, fu.family("H001", ("R001", "R002")) + fu.family("H002", ("R003",), seed=9), kind="full"
    )
    assert sync_run().applied
    return inbox


BAD_MY_NUMBER = fu.my_number(5)[:11] + str((int(fu.my_number(5)[11]) + 1) % 10)

# One failing record per entity: (entity, record, reason_code, residents it blocks).
CASES: dict[str, tuple[dict[str, Any], str, set[str]]] = {
    "household_bad_address": (
        fu.upsert("household", fu.household("H001", address="佐賀県\x07佐賀市")),
        "control_character",
        {"R001", "R002"},
    ),
    "resident_bad_check_digit": (
        fu.upsert("resident", fu.resident("R002", seed=2, my_number=BAD_MY_NUMBER)),
        "invalid_my_number",
        {"R001", "R002"},  # the whole household waits: its 住民票 would be incomplete
    ),
    "resident_unknown_household": (
        fu.upsert("resident", fu.resident("R002", "H999", seed=2)),
        "unknown_household",
        {"R001", "R002"},  # the whole household waits: its 住民票 would be incomplete
    ),
    "resident_impossible_date": (
        fu.upsert("resident", fu.resident("R002", seed=2, birth_date="1980-02-30")),
        "invalid_date",
        {"R001", "R002"},  # the whole household waits: its 住民票 would be incomplete
    ),
    "resident_unknown_field": (
        fu.upsert("resident", {**fu.resident("R002", seed=2), "nickname": "タロ"}),
        "unknown_field",
        {"R001", "R002"},  # the whole household waits: its 住民票 would be incomplete
    ),
    "seal_second_active": (
        fu.upsert("seal_registration", fu.seal("S777", "R001")),
        "second_active_seal",
        {"R001"},
    ),
    "seal_not_png": (
        fu.upsert("seal_registration", fu.seal("SR001", "R001", seal_image_png="aGVsbG8=")),
        "invalid_image",
        {"R001"},
    ),
    "tax_assessment_key_mismatch": (
        fu.upsert("tax_assessment", fu.tax_assessment("R001", 2024), key="R001:2023"),
        "key_mismatch",
        {"R001"},
    ),
    "tax_assessment_negative": (
        fu.upsert("tax_assessment", fu.tax_assessment("R001", 2024, total_tax=-1)),
        "negative_amount",
        {"R001"},
    ),
    "tax_payment_unbalanced": (
        fu.upsert("tax_payment", fu.tax_payment("R001", unpaid=1)),
        "amount_mismatch",
        {"R001"},
    ),
    "resident_newborn_not_yet_in_the_mirror": (
        fu.upsert("resident", fu.resident("R010", "H002", seed=10, my_number=BAD_MY_NUMBER)),
        "invalid_my_number",
        {"R003", "R010"},  # the household it would join, and the unknown code itself
    ),
    "tax_payment_unknown_resident": (
        fu.upsert("tax_payment", fu.tax_payment("R404")),
        "unknown_resident",
        {"R404"},
    ),
    "card_link_leading_zero": (
        fu.upsert("card_link", fu.card_link("0a1b", "R002")),
        "invalid_serial",
        {"R002"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_failing_record_is_quarantined_and_blocks_its_residents(inbox, case):
    record, reason_code, blocked = CASES[case]
    good = fu.upsert("resident", fu.resident("R003", "H002", seed=9, given_name="三郎"))
    fu.write_batch(inbox, 2, [record, good])

    result = sync_run()

    assert result.applied[0].records_quarantined == 1 and result.applied[0].records_applied == 1
    assert Resident.objects.get(resident_code="R003").given_name == "三郎"  # the rest applied
    quarantined = QuarantinedRecord.objects.get()
    assert quarantined.reason_code == reason_code
    assert quarantined.entity == record["entity"] and quarantined.line_number == 1
    assert quarantined.reason  # Japanese, for the clerk
    assert quarantined.resolved_at is None
    sent = record.get("data", {}).get("my_number")
    if sent:  # the value never stored; its place marked for the clerk
        assert sent not in str(quarantined.record)
        assert quarantined.record["data"]["my_number"] == MY_NUMBER_MARKER  # type: ignore[index]
    assert quarantined.my_numbers_removed == (1 if sent else 0)
    assert resident_codes_sync_blocked(resident_codes=["R001", "R002", "R003", "R010", "R404"]) == blocked
    event = AuditEvent.objects.get(action="sync.record_quarantined")
    assert event.payload == {"batch": 2, "line": 1, "entity": record["entity"], "reason_code": reason_code}
    existing = set(Resident.objects.filter(resident_code__in=blocked).values_list("pk", flat=True))
    assert set(event.resident_ids) == existing


def test_quarantined_mirror_row_keeps_its_previous_values(inbox):
    fu.write_batch(inbox, 2, [fu.upsert("resident", fu.resident("R002", seed=2, given_name="", sex="x"))])

    sync_run()

    assert Resident.objects.get(resident_code="R002").given_name == "太郎"


def test_a_later_valid_upsert_resolves_the_quarantine_and_releases_the_block(inbox):
    fu.write_batch(inbox, 2, [fu.upsert("resident", fu.resident("R002", seed=2, my_number=BAD_MY_NUMBER))])
    sync_run()
    assert "R002" in resident_codes_sync_blocked(resident_codes=["R002"])
    # An unrelated valid record does not resolve it.
    fu.write_batch(inbox, 3, [fu.upsert("resident", fu.resident("R001", seed=1))])
    sync_run()
    assert "R002" in resident_codes_sync_blocked(resident_codes=["R002"])

    fu.write_batch(inbox, 4, [fu.upsert("resident", fu.resident("R002", seed=2, given_name="次郎"))])
    sync_run()

    assert "R002" not in resident_codes_sync_blocked(resident_codes=["R002"])
    assert "R001" not in resident_codes_sync_blocked(
        resident_codes=["R001"]
    )  # the household member, released too
    record = QuarantinedRecord.objects.get()
    assert record.resolved_at is not None and record.resolved_by == Batch.objects.get(number=4)
    assert not ResidentBlock.objects.filter(released_at__isnull=True).exists()
    assert Resident.objects.get(resident_code="R002").given_name == "次郎"


def test_a_later_valid_delete_resolves_the_quarantine(inbox):
    fu.write_batch(inbox, 2, [fu.upsert("card_link", fu.card_link("abc", "R002", active_from="2024-13-01"))])
    sync_run()
    assert "R002" in resident_codes_sync_blocked(resident_codes=["R002"])

    fu.write_batch(inbox, 3, [fu.delete("card_link", f"{fu.ISSUER}:abc")])
    sync_run()

    assert "R002" not in resident_codes_sync_blocked(resident_codes=["R002"])
    assert QuarantinedRecord.objects.get().resolved_by == Batch.objects.get(number=3)


def test_a_record_the_database_refuses_is_quarantined_without_aborting_the_batch(inbox, monkeypatch):
    # Let an unbalanced payment through validation so that only the database's CHECK can refuse it.
    def lenient(key: str, data: Any) -> Clean:
        balanced = validate_tax_payment(key, {**data, "unpaid": data["assessed"] - data["paid"]})
        return Clean(
            values={**balanced.values, "unpaid": data["unpaid"]}, resident_code=balanced.resident_code
        )

    monkeypatch.setitem(apply.VALIDATORS, "tax_payment", lenient)
    lines = [fu.upsert("tax_payment", fu.tax_payment(code, 2024)) for code in ("R001", "R002", "R003")]
    lines.insert(1, fu.upsert("tax_payment", fu.tax_payment("R001", 2023, unpaid=5)))
    fu.write_batch(inbox, 2, lines)

    result = sync_run()

    assert result.applied[0].records_quarantined == 1
    assert QuarantinedRecord.objects.get().reason_code == "db_refused"
    assert set(
        TaxPayment.objects.filter(fiscal_year=2024).values_list("resident__resident_code", flat=True)
    ) == {
        "R001",
        "R002",
        "R003",
    }
    assert "R001" in resident_codes_sync_blocked(resident_codes=["R001"])


def test_seal_replacement_in_one_batch_applies_abolition_first(inbox):
    lines = [
        fu.upsert("seal_registration", fu.seal("S900", "R001")),
        fu.upsert(
            "seal_registration", fu.seal("SR001", "R001", status="abolished", abolished_on="2026-11-01")
        ),
    ]
    fu.write_batch(inbox, 2, lines)

    result = sync_run()

    assert result.applied[0].records_quarantined == 0
    assert (
        SealRegistration.objects.get(resident__resident_code="R001", status="active").registration_number
        == "S900"
    )


def test_deleting_a_resident_removes_their_dependent_rows(inbox):
    fu.write_batch(inbox, 2, [fu.delete("resident", "R002")])

    sync_run()

    assert not Resident.objects.filter(resident_code="R002").exists()
    for model in (SealRegistration, TaxAssessment, TaxPayment, CardLink):
        assert not model.objects.filter(resident__resident_code="R002").exists()
    assert Resident.objects.filter(resident_code="R001").exists()


def test_deleting_a_household_that_still_has_members_is_quarantined(inbox):
    fu.write_batch(
        inbox,
        2,
        [fu.delete("household", "H001"), fu.delete("household", "H002"), fu.delete("resident", "R003")],
    )

    result = sync_run()

    assert result.applied[0].records_quarantined == 1
    assert QuarantinedRecord.objects.get().reason_code == "household_has_members"
    assert list(Household.objects.values_list("household_code", flat=True)) == ["H001"]
    assert resident_codes_sync_blocked(resident_codes=["R001", "R002", "R003"]) == {"R001", "R002"}


def test_the_last_line_for_a_key_wins_within_a_batch(inbox):
    lines = [
        fu.upsert("resident", fu.resident("R001", given_name="一回目")),
        fu.upsert("resident", fu.resident("R001", given_name="二回目")),
    ]
    fu.write_batch(inbox, 2, lines)

    sync_run()

    assert Resident.objects.get(resident_code="R001").given_name == "二回目"


def test_a_full_batch_keeps_the_old_row_of_a_quarantined_key_and_blocks_it(inbox):
    lines = fu.family("H001", ("R001", "R002"))
    lines[2] = fu.upsert("resident", fu.resident("R002", seed=2, sex="unknown"))
    lines.append(fu.upsert("card_link", fu.card_link("beef", "R003")))  # R003 is not in this full batch
    fu.write_batch(inbox, 2, lines, kind="full")

    result = sync_run()

    assert result.applied[0].records_quarantined == 2
    assert set(Resident.objects.values_list("resident_code", flat=True)) == {"R001", "R002"}
    assert Resident.objects.get(resident_code="R002").sex == "male"
    assert set(QuarantinedRecord.objects.values_list("reason_code", flat=True)) == {
        "invalid_choice",
        "unknown_resident",
    }
    # R002's record blocks its household (R001 too); the card link blocks the unknown R003.
    assert resident_codes_sync_blocked(resident_codes=["R001", "R002", "R003"]) == {"R001", "R002", "R003"}
