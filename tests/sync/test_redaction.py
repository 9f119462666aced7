"""A quarantined record keeps everything a clerk needs to act on, and no My Number (SPEC §5, §6):
found at any depth, under any key, as a string, inside a longer text, or as a number."""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from sync.models import Batch, QuarantinedRecord
from sync.redaction import MY_NUMBER_MARKER, my_numbers_redact
from sync.services import sync_run
from tests.sync import feedutil as fu

VALID = fu.my_number(31_415_926_535)  # 12 digits, check digit right
WRONG_CHECK = VALID[:11] + str((int(VALID[11]) + 1) % 10)
LEADING_ZERO = fu.my_number(2_718_281_828)  # "02718281828" + check digit: 11 digits as a number


def _full_width(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


def test_my_numbers_are_replaced_at_any_depth_and_counted():
    record = {
        "op": "upsert",
        "entity": "resident",
        "key": "R001",
        "data": {
            "family_name": "佐賀",
            "notes": [{"memo": f"旧番号{VALID}を確認"}, {"deep": {"deeper": [int(VALID)]}}],
            "spaced": f"{VALID[:4]}-{VALID[4:8]}-{VALID[8:]}",
            "wide": _full_width(VALID),
            "as_key": {VALID: "x"},
            "total_income": 3_560_000,
        },
    }
    original = copy.deepcopy(record)

    clean, removed = my_numbers_redact(record)

    assert removed == 5
    assert record == original  # the input is not changed
    data = clean["data"]
    assert data["notes"] == [
        {"memo": f"旧番号{MY_NUMBER_MARKER}を確認"},
        {"deep": {"deeper": [MY_NUMBER_MARKER]}},
    ]
    assert data["spaced"] == data["wide"] == MY_NUMBER_MARKER
    assert data["as_key"] == {MY_NUMBER_MARKER: "x"}
    assert data["family_name"] == "佐賀" and data["total_income"] == 3_560_000
    assert VALID not in str(clean) and _full_width(VALID) not in str(clean)


def test_a_my_number_field_is_emptied_whatever_it_holds():
    # A wrong check digit under 個人番号 is a mistyped My Number: still eleven of its digits.
    clean, removed = my_numbers_redact(
        {"my_number": WRONG_CHECK, "nested": {"kojin_bango": int(WRONG_CHECK)}, "個人番号": "x"}
    )
    assert clean == {
        "my_number": MY_NUMBER_MARKER,
        "nested": {"kojin_bango": MY_NUMBER_MARKER},
        "個人番号": MY_NUMBER_MARKER,
    }
    assert removed == 3


def test_twelve_digits_that_fail_the_check_are_kept_elsewhere():
    # Not anyone's My Number, and the clerk needs the record's numbers as they came.
    record = {
        "reference": WRONG_CHECK,
        "amount": int(WRONG_CHECK),
        "text": f"番号{WRONG_CHECK}",
        "long": VALID + "1",
    }
    clean, removed = my_numbers_redact(record)
    assert clean == record and removed == 0


def test_a_my_number_that_begins_with_zero_is_found_as_a_number():
    assert LEADING_ZERO.startswith("0")
    clean, removed = my_numbers_redact({"value": int(LEADING_ZERO), "flag": True, "empty_my_number": None})
    assert clean == {"value": MY_NUMBER_MARKER, "flag": True, "empty_my_number": None}
    assert removed == 1


# --- through the feed: a batch in the inbox, applied by the sync service -------------------------


@pytest.mark.django_db
def test_a_quarantined_record_is_stored_without_its_my_numbers_and_the_clerk_is_told(settings, admin_client):
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(inbox, 1, fu.family("H001", ("R001", "R002")), kind="full")
    # Bad on two counts the validator sees (a stray field, a wrong check digit), and carrying My
    # Numbers where no validator looks: nested, in a text, as a number.
    bad = fu.resident("R002", "H001", seed=2, my_number=WRONG_CHECK)
    bad["remarks"] = {
        "history": [{"old_number": int(VALID)}, f"前の番号は {VALID[:4]} {VALID[4:8]} {VALID[8:]}"]
    }
    moved_in = fu.resident("R003", "H404", seed=3)  # valid, but its household is unknown
    fu.write_batch(inbox, 2, [fu.upsert("resident", bad), fu.upsert("resident", moved_in)])

    result = sync_run()

    assert result.applied[-1].records_quarantined == 2
    stray = QuarantinedRecord.objects.get(key="R002")
    assert stray.my_numbers_removed == 3
    stored: dict[str, Any] = stray.record["data"]  # type: ignore[index]
    assert stored["my_number"] == MY_NUMBER_MARKER
    history = [{"old_number": MY_NUMBER_MARKER}, f"前の番号は {MY_NUMBER_MARKER}"]
    assert stored["remarks"] == {"history": history}
    assert stored["given_name"] == "太郎" and stored["birth_date"] == "1980-04-01"
    for text in (VALID, WRONG_CHECK, f"{VALID[:4]} {VALID[4:8]}"):
        assert text not in str(stray.record)
    refused = QuarantinedRecord.objects.get(key="R003")  # passed validation, refused afterwards
    assert refused.reason_code == "unknown_household"
    assert refused.record["data"]["my_number"] == MY_NUMBER_MARKER  # type: ignore[index]
    assert refused.my_numbers_removed == 1
    assert fu.my_number(3) not in str(refused.record)

    page = admin_client.get(reverse("admin:sync_quarantinedrecord_change", args=[stray.pk])).content.decode()

    assert "個人番号3件を削除" in page and MY_NUMBER_MARKER in page
    assert VALID not in page and WRONG_CHECK not in page


@pytest.mark.django_db
def test_records_quarantined_before_the_redaction_lose_their_my_numbers_on_migrate():
    from django.apps import apps

    migration = importlib.import_module("sync.migrations.0003_quarantinedrecord_my_numbers_removed")
    batch = Batch.objects.create(
        number=1, kind="delta", status="applied", received_at=timezone.now(), finished_at=timezone.now()
    )
    old = QuarantinedRecord.objects.create(
        batch=batch,
        line_number=1,
        entity="resident",
        key="R001",
        reason_code="unknown_field",
        reason="住民: 不明な項目",
        record={"data": {"given_name": "太郎", "memo": f"番号{VALID}"}},
    )
    clean = QuarantinedRecord.objects.create(
        batch=batch, line_number=2, reason_code="invalid_key", reason="キー", record={"data": {"a": 1}}
    )

    migration.redact_stored_records(apps, None)

    old.refresh_from_db()
    clean.refresh_from_db()
    assert old.record == {"data": {"given_name": "太郎", "memo": f"番号{MY_NUMBER_MARKER}"}}
    assert old.my_numbers_removed == 1
    assert clean.record == {"data": {"a": 1}} and clean.my_numbers_removed == 0
