"""Per-record validation (SPEC §5): each rule refuses what it must and accepts the feed's own shape."""

from __future__ import annotations

from typing import Any

import pytest

from sync.validation import (
    RecordInvalid,
    validate_card_link,
    validate_delete_key,
    validate_resident,
    validate_tax_payment,
)
from tests.sync import feedutil as fu


def _reason(validator: Any, key: str, data: Any) -> str:
    with pytest.raises(RecordInvalid) as refused:
        validator(key, data)
    assert refused.value.reason  # always a Japanese reason for the clerk
    return refused.value.reason_code


def test_a_complete_resident_is_accepted_with_typed_values():
    clean = validate_resident("R001", fu.resident())

    assert clean.values["birth_date"].isoformat() == "1980-04-01"
    assert clean.household_code == "H001" and clean.resident_code == "R001"


@pytest.mark.parametrize(
    "value", ["2023-02-29", "2023/01/01", "20230101", "2023-W01-1", "1980-4-1", 19800401, None]
)
def test_dates_must_be_real_iso_dates(value):
    assert _reason(validate_resident, "R001", fu.resident(birth_date=value)) == "invalid_date"


@pytest.mark.parametrize(
    ("changes", "reason_code"),
    [
        ({"my_number": fu.my_number(3)[:11] + str((int(fu.my_number(3)[11]) + 1) % 10)}, "invalid_my_number"),
        ({"my_number": "12345678901"}, "invalid_my_number"),
        ({"my_number": "１２３４５６７８９０１２"}, "invalid_my_number"),
        ({"sex": "other"}, "invalid_choice"),
        ({"status": "gone"}, "invalid_choice"),
        ({"adult_ward": "false"}, "invalid_type"),
        ({"family_name": "佐\n賀"}, "control_character"),
        ({"family_name": "佐" * 51}, "too_long"),
        ({"given_name": ""}, "missing_value"),
        ({"resident_code": "R:01"}, "invalid_code"),
        ({"became_resident_on": "1979-01-01"}, "date_order"),
    ],
)
def test_resident_rules(changes, reason_code):
    data = fu.resident(**changes)
    assert _reason(validate_resident, str(data["resident_code"]), data) == reason_code


def test_unknown_and_missing_fields_are_refused():
    extra = {**fu.resident(), "note": "x"}
    missing = {k: v for k, v in fu.resident().items() if k != "honseki"}

    assert _reason(validate_resident, "R001", extra) == "unknown_field"
    assert _reason(validate_resident, "R001", missing) == "missing_field"
    assert _reason(validate_resident, "R001", ["not", "an", "object"]) == "invalid_data"


def test_key_must_equal_the_records_natural_key():
    assert _reason(validate_resident, "R999", fu.resident("R001")) == "key_mismatch"
    assert _reason(validate_tax_payment, "R001:2025", fu.tax_payment()) == "key_mismatch"


@pytest.mark.parametrize(
    ("changes", "reason_code"),
    [
        ({"paid": True}, "invalid_amount"),
        ({"paid": -1, "unpaid": 267_001}, "negative_amount"),
        ({"unpaid": 0}, "amount_mismatch"),
    ],
)
def test_amounts_are_non_negative_integers_and_balance(changes, reason_code):
    data = fu.tax_payment(**changes)
    assert _reason(validate_tax_payment, fu.key_of("tax_payment", data), data) == reason_code


@pytest.mark.parametrize("serial", ["0a1b", "A1B2", "xyz", "0"])
def test_card_serial_is_lowercase_hex_without_leading_zeros(serial):
    data = fu.card_link(serial)
    assert _reason(validate_card_link, fu.key_of("card_link", data), data) == "invalid_serial"


@pytest.mark.parametrize(
    ("entity", "key"),
    [
        ("tax_assessment", "R001"),
        ("tax_payment", "R001:2025"),
        ("card_link", "no-colon"),
        ("resident", "R 1"),
    ],
)
def test_delete_keys_must_have_their_entitys_shape(entity, key):
    with pytest.raises(RecordInvalid):
        validate_delete_key(entity, key)


def test_well_formed_delete_keys_are_accepted():
    validate_delete_key("tax_payment", "R001:2025:個人市県民税")
    validate_delete_key("card_link", f"{fu.ISSUER}:1a2b")
