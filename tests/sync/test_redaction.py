"""A quarantined record keeps everything a clerk needs to act on, and no My Number (SPEC §5, §6):
found at any depth, under any key, as a string, inside a longer text, or as a number."""

from __future__ import annotations

import copy
import importlib
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from sync.models import Batch, QuarantinedRecord, ResidentBlock
from sync.redaction import MY_NUMBER_MARKER, my_number_field, my_numbers_redact, my_numbers_redact_text
from sync.services import sync_run
from sync.validation import RecordInvalid, validate_resident
from tests.sync import feedutil as fu

# What a data migration's function reads of its schema editor: the connection it runs on.
_SCHEMA_EDITOR = SimpleNamespace(connection=connection)

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


# --- written in three groups, with any separator -------------------------------------------------

# Whatever a person, a spreadsheet or an IME puts between the groups of four.
SEPARATORS = [
    "-",
    " ",
    "\u2212",  # − minus sign
    "\u30fc",  # ー katakana prolonged sound mark
    "\uff0d",  # － full-width hyphen-minus
    "\u2010",  # ‐ hyphen
    "\u2011",  # ‑ non-breaking hyphen
    "\u2012",  # ‒ figure dash
    "\u2013",  # – en dash
    "\u2014",  # — em dash
    "\u2015",  # ― horizontal bar
    "\uff70",  # ｰ half-width prolonged sound mark
    ".",
    "\uff0e",  # ． full-width full stop
    "\u30fb",  # ・ katakana middle dot
    "\t",
    "  ",
    "\u3000",  # full-width space
    "\u3000\u3000",
    "\u00a0",  # no-break space
    " - ",
    "\u200b",  # zero-width space
]


def _grouped(number: str, separator: str) -> str:
    return f"{number[:4]}{separator}{number[4:8]}{separator}{number[8:]}"


@pytest.mark.parametrize("separator", SEPARATORS, ids=[f"U+{ord(s[0]):04X}x{len(s)}" for s in SEPARATORS])
def test_a_my_number_in_three_groups_is_found_whatever_separates_them(separator):
    for written in (_grouped(VALID, separator), _grouped(_full_width(VALID), separator)):
        clean, removed = my_numbers_redact({"memo": f"番号は{written}です", "list": [written]})
        assert clean == {"memo": f"番号は{MY_NUMBER_MARKER}です", "list": [MY_NUMBER_MARKER]}
        assert removed == 2


@pytest.mark.parametrize("separator", SEPARATORS, ids=[f"U+{ord(s[0]):04X}x{len(s)}" for s in SEPARATORS])
def test_twelve_digits_in_three_groups_that_fail_the_check_are_kept(separator):
    # A reference number, a phone or an account written 4-4-4: nine in ten fail the check.
    record = {"memo": f"照会番号 {_grouped(WRONG_CHECK, separator)}"}
    assert my_numbers_redact(record) == (record, 0)


def test_a_my_number_is_found_behind_twelve_digits_that_fail_the_check():
    # The candidate starting at the first group fails; the one starting at the second is a My Number.
    text = f"5555 {_grouped(VALID, ' ')}"
    assert my_numbers_redact_text(text) == (f"5555 {MY_NUMBER_MARKER}", 1)


def test_groups_far_apart_are_not_joined():
    text = _grouped(VALID, " " * 8)
    assert my_numbers_redact_text(text) == (text, 0)


# --- the field that names a My Number -----------------------------------------------------------

FIELD_NAMES = [
    "my_number",
    "my-number",
    "my number",
    "MyNumber",
    "MY_NUMBER",
    "residentMyNumber",
    "my_number_old",
    "my_no",
    "myno",
    "myNo",
    "ｍｙ＿ｎｕｍｂｅｒ",  # full-width letters
    "kojin_bango",
    "kojin-bango",
    "kojinbangou",
    "Kojin Bango",
    "個人番号",
    "旧個人番号",
    "マイナンバー",
    "ﾏｲﾅﾝﾊﾞｰ",  # half-width katakana
]


@pytest.mark.parametrize("name", FIELD_NAMES)
def test_the_value_of_a_my_number_field_is_replaced_at_any_depth(name):
    # Whatever it holds: a number with a wrong check digit, digits in another form, a list.
    for value in (WRONG_CHECK, int(VALID), _grouped(VALID, "\u2212"), [VALID[:6], VALID[6:]]):
        clean, removed = my_numbers_redact({"data": {"nested": [{name: value, "given_name": "太郎"}]}})
        assert clean == {"data": {"nested": [{name: MY_NUMBER_MARKER, "given_name": "太郎"}]}}
        assert removed == 1


@pytest.mark.parametrize("name", ["my_notes", "mynonce", "economy", "number", "kojin", "notes", "番号"])
def test_other_fields_are_not_taken_for_a_my_number_field(name):
    assert not my_number_field(name)
    assert my_numbers_redact({name: WRONG_CHECK}) == ({name: WRONG_CHECK}, 0)


# --- what is stored beside the record: its key and its reason ------------------------------------


def test_the_reason_never_holds_part_of_a_my_number_cut_at_its_length_limit():
    # An unknown field's name is quoted into the reason, cut at 40 characters: cut inside a My
    # Number, its first digits would be stored where the redaction no longer recognises them.
    data = fu.resident("R002", "H001", seed=2)
    data["x" * 32 + VALID] = "1"
    with pytest.raises(RecordInvalid) as raised:
        validate_resident("R002", data)
    assert raised.value.reason_code == "unknown_field"
    assert VALID[:4] not in raised.value.reason and "x" * 32 in raised.value.reason


# --- through the feed: a batch in the inbox, applied by the sync service -------------------------


@pytest.mark.django_db
def test_a_my_number_as_key_and_in_a_reason_is_not_stored(settings, admin_client):
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(inbox, 1, fu.family("H001", ("R001", "R002")), kind="full")
    # The core system sent a resident keyed by a My Number (written with minus signs) and with a
    # stray field whose name holds one (written with middle dots): the validator quotes unknown
    # field names into the reason.
    key = _grouped(VALID, "\u2212")
    stray = f"旧番号{_grouped(VALID, '・')}"
    data = fu.resident("R002", "H001", seed=2)
    data[stray] = "転記漏れ"
    fu.write_batch(inbox, 2, [fu.upsert("resident", data, key=key)])

    result = sync_run()

    assert result.applied[-1].records_quarantined == 1
    stored = QuarantinedRecord.objects.get(batch__number=2)
    assert stored.reason_code == "unknown_field"
    assert stored.key == MY_NUMBER_MARKER and stored.key_digest and VALID not in stored.key_digest
    assert stored.reason == f"住民: 未知の項目があります: 旧番号{MY_NUMBER_MARKER}。"
    # In the record: its key, the stray field's name and data.my_number; beside it: key and reason.
    assert stored.my_numbers_removed == 5
    assert stored.record["key"] == MY_NUMBER_MARKER  # type: ignore[index]
    assert stored.record["data"][f"旧番号{MY_NUMBER_MARKER}"] == "転記漏れ"  # type: ignore[index]
    for text in (stored.key, stored.reason, str(stored.record)):
        assert VALID not in re.sub(r"\D", "", text) and fu.my_number(2) not in text
    assert not QuarantinedRecord.objects.filter(key__contains=VALID[:4]).exists()

    page = admin_client.get(reverse("admin:sync_quarantinedrecord_changelist")).content.decode()

    assert MY_NUMBER_MARKER in page and VALID[:4] not in page


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

    migration.redact_stored_records(apps, _SCHEMA_EDITOR)

    old.refresh_from_db()
    clean.refresh_from_db()
    assert old.record == {"data": {"given_name": "太郎", "memo": f"番号{MY_NUMBER_MARKER}"}}
    assert old.my_numbers_removed == 1
    assert clean.record == {"data": {"a": 1}} and clean.my_numbers_removed == 0


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["delta", "full"])
def test_a_record_whose_key_is_stored_redacted_is_still_resolved_by_a_valid_record_for_that_key(
    settings, kind
):
    # A resident code of 12 digits may pass the My Number check: stored, the key shows the marker,
    # and the next valid record for that code must still resolve the record and release the block.
    inbox = Path(settings.SYNC_INBOX_DIR)
    lines = fu.family("H001", ("R001", VALID))
    fu.write_batch(inbox, 1, lines, kind="full")
    fu.write_batch(
        inbox, 2, [fu.upsert("resident", fu.resident(VALID, "H001", seed=2, birth_date="1980-13-01"))]
    )
    sync_run()
    stored = QuarantinedRecord.objects.get(batch__number=2)
    assert stored.key == MY_NUMBER_MARKER and stored.key_digest and VALID not in stored.key_digest
    blocked = ResidentBlock.objects.filter(resident_code=VALID, released_at__isnull=True)
    assert blocked.exists()
    # Another record with a redacted key stays quarantined: the digest tells the two apart.
    other = fu.my_number(27_182_818_284)
    fu.write_batch(inbox, 3, [fu.upsert("resident", fu.resident(other, "H404", seed=3))])
    sync_run()
    assert QuarantinedRecord.objects.get(batch__number=3).key == MY_NUMBER_MARKER

    fixed = lines if kind == "full" else [fu.upsert("resident", fu.resident(VALID, "H001", seed=2))]
    if kind == "full":  # the full batch still holds the other key, quarantined again
        fixed = [*lines, fu.upsert("resident", fu.resident(other, "H404", seed=3))]
    fu.write_batch(inbox, 4, fixed, kind=kind)
    sync_run()

    stored.refresh_from_db()
    assert stored.resolved_at is not None and stored.resolved_by.number == 4  # type: ignore[union-attr]
    assert not blocked.exists()
    assert QuarantinedRecord.objects.get(batch__number=3).resolved_at is None


@pytest.mark.django_db
def test_a_full_batch_without_the_redacted_key_resolves_its_record(settings):
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(inbox, 1, fu.family("H001", ("R001", "R002")), kind="full")
    fu.write_batch(inbox, 2, [fu.upsert("resident", fu.resident(VALID, "H404", seed=3))])
    sync_run()
    stored = QuarantinedRecord.objects.get(batch__number=2)
    assert stored.key == MY_NUMBER_MARKER and stored.resolved_at is None

    fu.write_batch(inbox, 3, fu.family("H001", ("R001", "R002")), kind="full")
    sync_run()

    stored.refresh_from_db()
    assert stored.resolved_at is not None


@pytest.mark.django_db
def test_records_stored_under_the_narrower_rules_lose_their_my_numbers_on_migrate():
    from django.apps import apps

    migration = importlib.import_module("sync.migrations.0004_quarantinedrecord_key_digest")
    batch = Batch.objects.create(
        number=1, kind="delta", status="applied", received_at=timezone.now(), finished_at=timezone.now()
    )
    key = _grouped(VALID, "\u2212")
    old = QuarantinedRecord.objects.create(
        batch=batch,
        line_number=1,
        entity="resident",
        key=key,
        reason_code="unknown_field",
        reason=f"住民: 未知の項目があります: 旧{_grouped(VALID, '・')}。",
        # As the narrower rules left it: my_number already replaced (and counted), the rest not.
        record={
            "key": key,
            "data": {"my_number": MY_NUMBER_MARKER, "my-no": "1", "memo": _grouped(VALID, "ー")},
        },
        my_numbers_removed=1,
    )
    untouched = QuarantinedRecord.objects.create(
        batch=batch,
        line_number=2,
        key="R001",
        reason_code="invalid_date",
        reason="住民: 日付",
        record={"a": 1},
    )

    migration.redact_stored_records(apps, _SCHEMA_EDITOR)

    old.refresh_from_db()
    untouched.refresh_from_db()
    assert old.key == MY_NUMBER_MARKER and old.key_digest
    assert old.reason == f"住民: 未知の項目があります: 旧{MY_NUMBER_MARKER}。"
    assert old.record == {
        "key": MY_NUMBER_MARKER,
        "data": {"my_number": MY_NUMBER_MARKER, "my-no": MY_NUMBER_MARKER, "memo": MY_NUMBER_MARKER},
    }
    assert old.my_numbers_removed == 1 + 5
    assert (untouched.key, untouched.reason, untouched.record, untouched.key_digest) == (
        "R001",
        "住民: 日付",
        {"a": 1},
        "",
    )
