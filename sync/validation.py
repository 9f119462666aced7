"""Per-record validation of the core-system feed (SPEC §5).

Each ``validate_<entity>`` takes a record's ``key`` and ``data`` and returns the cleaned values in
the mirror's column types, or raises :class:`RecordInvalid` with a reason code and a Japanese reason
that a clerk can act on. References to other records (household, resident) and the one-active-seal
rule depend on the rest of the batch and the mirror: ``sync.services.apply`` checks them.

Reasons never quote the offending value: it could be personal data and reasons are shown in the
admin and kept for years. They name the field, which is enough for the core system's operators.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from residents.my_number import my_number_is_valid

# Upserts are applied parents first; deletes children first (SPEC §5, foreign keys).
ENTITY_ORDER: tuple[str, ...] = (
    "household",
    "resident",
    "seal_registration",
    "tax_assessment",
    "tax_payment",
    "card_link",
)
OPS = frozenset({"upsert", "delete"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Codes become parts of composite keys (``<resident_code>:<fiscal_year>``), so no ':' in them.
_CODE = re.compile(r"^[0-9A-Za-z_-]+$")
_TRAILING_DIGITS = re.compile(r"[\d\W_]+$")  # digits with what may separate them, at a cut's end
_SERIAL = re.compile(r"^[1-9a-f][0-9a-f]*$")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MAX_SEAL_PNG_BYTES = 1024 * 1024
_MAX_YEN = 10**15
_EARLIEST_DATE = date(1850, 1, 1)
_LATEST_DATE = date(2200, 12, 31)

FIELD_LABELS: dict[str, str] = {
    "household_code": "世帯番号",
    "address": "住所",
    "head_resident_code": "世帯主の住民番号",
    "resident_code": "住民番号",
    "family_name": "氏",
    "given_name": "名",
    "family_name_kana": "氏(カナ)",
    "given_name_kana": "名(カナ)",
    "birth_date": "生年月日",
    "sex": "性別",
    "relationship": "続柄",
    "became_resident_on": "住民となった年月日",
    "address_since": "住所を定めた年月日",
    "previous_address": "転入前住所",
    "honseki": "本籍",
    "hittosha": "筆頭者",
    "my_number": "個人番号",
    "status": "状態",
    "status_changed_on": "異動日",
    "adult_ward": "成年被後見人",
    "support_measure": "支援措置",
    "pending_change": "異動中",
    "registration_number": "登録番号",
    "seal_image_png": "印影(PNG)",
    "registered_on": "登録日",
    "abolished_on": "廃止日",
    "fiscal_year": "年度",
    "address_on_jan1": "1月1日現在の住所",
    "declared": "申告の有無",
    "income": "所得(種類別)",
    "total_income": "合計所得金額",
    "deductions": "所得控除(種類別)",
    "total_deductions": "所得控除合計",
    "taxable_income": "課税標準額",
    "municipal_income_levy": "市民税所得割",
    "municipal_per_capita": "市民税均等割",
    "prefectural_income_levy": "県民税所得割",
    "prefectural_per_capita": "県民税均等割",
    "total_tax": "税額合計",
    "released_on": "証明開始日",
    "tax_item": "税目",
    "assessed": "課税額",
    "paid": "納付額",
    "unpaid": "未納額",
    "issuer": "発行者",
    "serial": "シリアル番号",
    "active_from": "利用開始日",
    "credential": "電子証明書の種類",
}

ENTITY_LABELS: dict[str, str] = {
    "household": "世帯",
    "resident": "住民",
    "seal_registration": "印鑑登録",
    "tax_assessment": "課税情報",
    "tax_payment": "納税情報",
    "card_link": "カード紐付け",
}


class RecordInvalid(Exception):
    """A record that must be quarantined. ``reason`` is Japanese, for clerks; never personal data."""

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(reason_code)
        self.reason_code = reason_code
        self.reason = reason


def _label(field: str) -> str:
    return f"「{FIELD_LABELS.get(field, field)}」({field})"


# --- field checkers: each returns the cleaned value or raises RecordInvalid --------------------


@cache
def _max_length(model: Any, field: str) -> int:
    # The mirror's column sizes are the limits: a longer value would be refused by the database.
    return int(model._meta.get_field(field).max_length)


def _text(field: str, value: Any, *, max_length: int, blank: bool = False) -> str:
    # Fast path first: a full load validates millions of fields.
    if type(value) is str and value and len(value) <= max_length and not _CONTROL.search(value):
        return value
    if value is None and blank:
        return ""
    if not isinstance(value, str):
        raise RecordInvalid("invalid_type", f"{_label(field)}は文字列でなければなりません。")
    if not value and not blank:
        raise RecordInvalid("missing_value", f"{_label(field)}が空です。")
    if _CONTROL.search(value):
        raise RecordInvalid("control_character", f"{_label(field)}に制御文字が含まれています。")
    if len(value) > max_length:
        raise RecordInvalid(
            "too_long", f"{_label(field)}が長すぎます({len(value)}文字、上限{max_length}文字)。"
        )
    return value


def _code(field: str, value: Any, *, max_length: int = 20) -> str:
    if type(value) is str and len(value) <= max_length and _CODE.match(value):
        return value
    text = _text(field, value, max_length=max_length)
    if not _CODE.match(text):
        raise RecordInvalid(
            "invalid_code", f"{_label(field)}は半角英数字・ハイフン・下線のみで指定してください。"
        )
    return text


def _date(field: str, value: Any, *, nullable: bool = False) -> date | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise RecordInvalid("invalid_date", f"{_label(field)}はYYYY-MM-DD形式の日付でなければなりません。")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise RecordInvalid("invalid_date", f"{_label(field)}が実在しない日付です。") from None
    if not _EARLIEST_DATE <= parsed <= _LATEST_DATE:
        raise RecordInvalid("invalid_date", f"{_label(field)}が有効な範囲外の日付です。")
    return parsed


def _bool(field: str, value: Any) -> bool:
    if value is True or value is False:
        return value
    if not isinstance(value, bool):
        raise RecordInvalid("invalid_type", f"{_label(field)}は真偽値(true/false)でなければなりません。")
    return value


def _yen(field: str, value: Any) -> int:
    # bool is an int subclass in Python; true/false is not an amount (type() is exact).
    if type(value) is int and 0 <= value <= _MAX_YEN:
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordInvalid("invalid_amount", f"{_label(field)}は整数(円)でなければなりません。")
    if value < 0:
        raise RecordInvalid("negative_amount", f"{_label(field)}が負の金額です。")
    if value > _MAX_YEN:
        raise RecordInvalid("invalid_amount", f"{_label(field)}が大きすぎます。")
    return value


def _choice(field: str, value: Any, choices: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        allowed = "、".join(sorted(choices))
        raise RecordInvalid(
            "invalid_choice", f"{_label(field)}は次のいずれかでなければなりません: {allowed}。"
        )
    return value


_SEXES = frozenset(Resident.Sex.values)
_RESIDENT_STATUSES = frozenset(Resident.Status.values)
_SEAL_STATUSES = frozenset(SealRegistration.Status.values)
_CREDENTIALS = frozenset(CardLink.Credential.values)


def _yen_by_kind(field: str, value: Any) -> dict[str, int]:
    """A {kind: yen} object, for the mirror's JSON column."""
    if not isinstance(value, dict):
        raise RecordInvalid(
            "invalid_type", f"{_label(field)}は「種類: 金額」のオブジェクトでなければなりません。"
        )
    for kind, amount in value.items():
        _text(field, kind, max_length=50)
        _yen(field, amount)
    return dict(value)


def _fields_exact(data: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """An upsert carries the complete record (SPEC §5): every field, and nothing else."""
    if not isinstance(data, dict):
        raise RecordInvalid("invalid_data", "「data」がオブジェクトではありません。")
    if data.keys() == _FIELD_SETS[fields]:  # the common case, checked at C speed
        return data
    unknown = sorted(set(data) - set(fields))
    if unknown:
        names = "、".join(_name_shown(name) for name in unknown[:5])
        raise RecordInvalid("unknown_field", f"未知の項目があります: {names}。")
    missing = [field for field in fields if field not in data]
    if missing:
        names = "、".join(_label(field) for field in missing[:5])
        raise RecordInvalid("missing_field", f"必須項目がありません: {names}。")
    return data


def _name_shown(name: Any) -> str:
    """An unknown field's name for the reason, at most 40 characters. A run of digits the cut goes
    through is left out whole: a My Number cut in two would leave up to eleven of its digits in the
    reason, where the redaction of the stored reason no longer recognises it."""
    text = str(name)
    if len(text) <= 40:
        return text
    return _TRAILING_DIGITS.sub("", text[:40]) + "…"


def _key_matches(key: str, expected: str, what: str) -> None:
    if key != expected:
        raise RecordInvalid("key_mismatch", f"キーが{what}と一致しません。")


# --- the entities -------------------------------------------------------------------------------

HOUSEHOLD_FIELDS = ("household_code", "address", "head_resident_code")
RESIDENT_FIELDS = (
    "resident_code",
    "household_code",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "birth_date",
    "sex",
    "relationship",
    "address",
    "became_resident_on",
    "address_since",
    "previous_address",
    "honseki",
    "hittosha",
    "my_number",
    "status",
    "status_changed_on",
    "adult_ward",
    "support_measure",
    "pending_change",
)
SEAL_FIELDS = (
    "registration_number",
    "resident_code",
    "seal_image_png",
    "registered_on",
    "status",
    "abolished_on",
)
TAX_ASSESSMENT_FIELDS = (
    "resident_code",
    "fiscal_year",
    "address_on_jan1",
    "declared",
    "income",
    "total_income",
    "deductions",
    "total_deductions",
    "taxable_income",
    "municipal_income_levy",
    "municipal_per_capita",
    "prefectural_income_levy",
    "prefectural_per_capita",
    "total_tax",
    "released_on",
)
TAX_PAYMENT_FIELDS = ("resident_code", "fiscal_year", "tax_item", "assessed", "paid", "unpaid")
CARD_LINK_FIELDS = ("issuer", "serial", "resident_code", "active_from", "credential")
_FIELD_SETS: dict[tuple[str, ...], frozenset[str]] = {
    fields: frozenset(fields)
    for fields in (
        HOUSEHOLD_FIELDS,
        RESIDENT_FIELDS,
        SEAL_FIELDS,
        TAX_ASSESSMENT_FIELDS,
        TAX_PAYMENT_FIELDS,
        CARD_LINK_FIELDS,
    )
}
_TAX_AMOUNTS = (
    "total_income",
    "total_deductions",
    "taxable_income",
    "municipal_income_levy",
    "municipal_per_capita",
    "prefectural_income_levy",
    "prefectural_per_capita",
    "total_tax",
)


@dataclass(frozen=True, slots=True)
class Clean:
    """A validated upsert: the mirror's column values plus the references still to be checked."""

    values: dict[str, Any]
    household_code: str = ""
    resident_code: str = ""


def validate_household(key: str, data: Any) -> Clean:
    data = _fields_exact(data, HOUSEHOLD_FIELDS)
    code = _code("household_code", data["household_code"])
    _key_matches(key, code, "世帯番号")
    return Clean(
        values={
            "household_code": code,
            "address": _text("address", data["address"], max_length=_max_length(Household, "address")),
            "head_resident_code": _code("head_resident_code", data["head_resident_code"]),
        }
    )


def validate_resident(key: str, data: Any) -> Clean:
    data = _fields_exact(data, RESIDENT_FIELDS)
    code = _code("resident_code", data["resident_code"])
    _key_matches(key, code, "住民番号")
    values: dict[str, Any] = {"resident_code": code}
    for field in (
        "family_name",
        "given_name",
        "family_name_kana",
        "given_name_kana",
        "relationship",
        "address",
    ):
        values[field] = _text(field, data[field], max_length=_max_length(Resident, field))
    for field in ("previous_address", "honseki", "hittosha"):
        values[field] = _text(field, data[field], max_length=_max_length(Resident, field), blank=True)
    for field in ("birth_date", "became_resident_on", "address_since"):
        values[field] = _date(field, data[field])
    values["status_changed_on"] = _date("status_changed_on", data["status_changed_on"], nullable=True)
    values["sex"] = _choice("sex", data["sex"], _SEXES)
    values["status"] = _choice("status", data["status"], _RESIDENT_STATUSES)
    for field in ("adult_ward", "support_measure", "pending_change"):
        values[field] = _bool(field, data[field])
    if values["became_resident_on"] < values["birth_date"]:
        raise RecordInvalid("date_order", f"{_label('became_resident_on')}が生年月日より前です。")
    if values["address_since"] < values["birth_date"]:
        raise RecordInvalid("date_order", f"{_label('address_since')}が生年月日より前です。")
    if not my_number_is_valid(data["my_number"]):
        raise RecordInvalid(
            "invalid_my_number", "個人番号が12桁の数字でないか、検査用数字(チェックデジット)が一致しません。"
        )
    values["my_number"] = data["my_number"]  # encrypted by the caller, bound to the resident code
    household_code = _code("household_code", data["household_code"])
    values["household_code"] = household_code
    return Clean(values=values, household_code=household_code, resident_code=code)


def validate_seal_registration(key: str, data: Any) -> Clean:
    data = _fields_exact(data, SEAL_FIELDS)
    number = _code("registration_number", data["registration_number"])
    _key_matches(key, number, "登録番号")
    resident_code = _code("resident_code", data["resident_code"])
    status = _choice("status", data["status"], _SEAL_STATUSES)
    registered_on = _date("registered_on", data["registered_on"])
    abolished_on = _date("abolished_on", data["abolished_on"], nullable=True)
    if status == SealRegistration.Status.ACTIVE and abolished_on is not None:
        raise RecordInvalid("status_inconsistent", "登録中の印鑑登録に廃止日が入っています。")
    if status == SealRegistration.Status.ABOLISHED and abolished_on is None:
        raise RecordInvalid("status_inconsistent", "廃止された印鑑登録に廃止日がありません。")
    if abolished_on is not None and registered_on is not None and abolished_on < registered_on:
        raise RecordInvalid("date_order", "廃止日が登録日より前です。")
    image = data["seal_image_png"]
    if not isinstance(image, str):
        raise RecordInvalid(
            "invalid_image", f"{_label('seal_image_png')}はbase64文字列でなければなりません。"
        )
    try:
        png = base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError):
        raise RecordInvalid(
            "invalid_image", f"{_label('seal_image_png')}が正しいbase64ではありません。"
        ) from None
    if not png.startswith(_PNG_MAGIC):
        raise RecordInvalid("invalid_image", f"{_label('seal_image_png')}がPNG画像ではありません。")
    if len(png) > _MAX_SEAL_PNG_BYTES:
        raise RecordInvalid("invalid_image", f"{_label('seal_image_png')}が大きすぎます(上限1MB)。")
    return Clean(
        values={
            "registration_number": number,
            "seal_image_png": png,
            "registered_on": registered_on,
            "status": status,
            "abolished_on": abolished_on,
        },
        resident_code=resident_code,
    )


def _fiscal_year(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1989 <= value <= 2200:
        raise RecordInvalid(
            "invalid_fiscal_year", f"{_label('fiscal_year')}は西暦の整数(1989〜2200)で指定してください。"
        )
    return value


def validate_tax_assessment(key: str, data: Any) -> Clean:
    data = _fields_exact(data, TAX_ASSESSMENT_FIELDS)
    resident_code = _code("resident_code", data["resident_code"])
    fiscal_year = _fiscal_year(data["fiscal_year"])
    _key_matches(key, f"{resident_code}:{fiscal_year}", "「住民番号:年度」")
    values: dict[str, Any] = {
        "fiscal_year": fiscal_year,
        "address_on_jan1": _text(
            "address_on_jan1",
            data["address_on_jan1"],
            max_length=_max_length(TaxAssessment, "address_on_jan1"),
        ),
        "declared": _bool("declared", data["declared"]),
        "income": _yen_by_kind("income", data["income"]),
        "deductions": _yen_by_kind("deductions", data["deductions"]),
        "released_on": _date("released_on", data["released_on"], nullable=True),
    }
    for field in _TAX_AMOUNTS:
        values[field] = _yen(field, data[field])
    return Clean(values=values, resident_code=resident_code)


def validate_tax_payment(key: str, data: Any) -> Clean:
    data = _fields_exact(data, TAX_PAYMENT_FIELDS)
    resident_code = _code("resident_code", data["resident_code"])
    fiscal_year = _fiscal_year(data["fiscal_year"])
    tax_item = _text("tax_item", data["tax_item"], max_length=_max_length(TaxPayment, "tax_item"))
    _key_matches(key, f"{resident_code}:{fiscal_year}:{tax_item}", "「住民番号:年度:税目」")
    assessed = _yen("assessed", data["assessed"])
    paid = _yen("paid", data["paid"])
    unpaid = _yen("unpaid", data["unpaid"])
    if unpaid != assessed - paid:
        raise RecordInvalid("amount_mismatch", "未納額が「課税額 − 納付額」と一致しません。")
    return Clean(
        values={
            "fiscal_year": fiscal_year,
            "tax_item": tax_item,
            "assessed": assessed,
            "paid": paid,
            "unpaid": unpaid,
        },
        resident_code=resident_code,
    )


def validate_card_link(key: str, data: Any) -> Clean:
    if isinstance(data, dict) and "credential" not in data:
        # Optional (SPEC §5): a core system that predates the smartphone certificate sends cards only.
        data = {**data, "credential": CardLink.Credential.CARD.value}
    data = _fields_exact(data, CARD_LINK_FIELDS)
    issuer = _text("issuer", data["issuer"], max_length=_max_length(CardLink, "issuer"))
    serial = _text("serial", data["serial"], max_length=_max_length(CardLink, "serial"))
    if not _SERIAL.match(serial):
        raise RecordInvalid(
            "invalid_serial", f"{_label('serial')}は先頭に0を付けない小文字の16進数で指定してください。"
        )
    _key_matches(key, f"{issuer}:{serial}", "「発行者:シリアル番号」")
    return Clean(
        values={
            "issuer": issuer,
            "serial": serial,
            "active_from": _date("active_from", data["active_from"]),
            "credential": _choice("credential", data["credential"], _CREDENTIALS),
        },
        resident_code=_code("resident_code", data["resident_code"]),
    )


VALIDATORS: dict[str, Callable[[str, Any], Clean]] = {
    "household": validate_household,
    "resident": validate_resident,
    "seal_registration": validate_seal_registration,
    "tax_assessment": validate_tax_assessment,
    "tax_payment": validate_tax_payment,
    "card_link": validate_card_link,
}


def validate_delete_key(entity: str, key: str) -> None:
    """A delete needs only entity and key (SPEC §5), but the key must have its entity's shape."""
    if entity in ("household", "resident", "seal_registration"):
        _code("key", key)
    elif entity == "tax_assessment":
        code, sep, year = key.partition(":")
        if not sep or not _CODE.match(code) or not year.isascii() or not year.isdigit():
            raise RecordInvalid("invalid_key", "キーは「住民番号:年度」の形式でなければなりません。")
    elif entity == "tax_payment":
        parts = key.split(":", 2)
        if len(parts) != 3 or not _CODE.match(parts[0]) or not parts[1].isascii() or not parts[1].isdigit():
            raise RecordInvalid("invalid_key", "キーは「住民番号:年度:税目」の形式でなければなりません。")
        _text("tax_item", parts[2], max_length=_max_length(TaxPayment, "tax_item"))
    elif entity == "card_link":
        issuer, sep, serial = key.rpartition(":")
        if not sep or not issuer or not _SERIAL.match(serial):
            raise RecordInvalid("invalid_key", "キーは「発行者:シリアル番号」の形式でなければなりません。")
        _text("key", issuer, max_length=_max_length(CardLink, "issuer"))


def resident_codes_in(entity: str, key: Any, data: Any) -> set[str]:
    """Every resident code a record names, valid or not: the residents a quarantine must block."""
    codes: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, str) and 0 < len(value) <= 20 and _CODE.match(value):
            codes.add(value)

    if isinstance(data, dict):
        add(data.get("resident_code"))
    if isinstance(key, str):
        if entity == "resident":
            add(key)
        elif entity in ("tax_assessment", "tax_payment"):
            add(key.split(":", 1)[0])
    return codes
