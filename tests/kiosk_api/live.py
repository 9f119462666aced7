"""Helpers for the end-to-end tests against a live server: card files and distinct residents."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from pypdf import PdfReader

from certificates.rendering import read_verification_payloads
from certificates.signing import payload_verify
from residents.models import Resident
from tests.certificates.factories import (
    ResidentFactory,
    SealRegistrationFactory,
    TaxAssessmentFactory,
    TaxPaymentFactory,
    member_of,
)
from tests.kiosk_api.cards import Card

# Family names that every font has, one per holder, so that a document naming anybody else shows.
FAMILY_NAMES = [
    "山田",
    "田中",
    "鈴木",
    "高橋",
    "伊藤",
    "渡辺",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山口",
    "松本",
    "井上",
    "木村",
    "清水",
    "山崎",
    "森本",
    "池田",
    "橋本",
    "石川",
    "前田",
    "藤田",
    "岡田",
    "後藤",
]
KANA = "ヤマダ"


def distinct_holder(index: int) -> Resident:
    """An ``ok`` holder whose household shares a family name nobody else in the test has."""
    family = FAMILY_NAMES[index]
    holder = cast(Resident, ResidentFactory(family_name=family, family_name_kana=KANA))
    member_of(holder, family_name=family, family_name_kana=KANA)
    SealRegistrationFactory(resident=holder)
    for year in (2025, 2026):
        TaxAssessmentFactory(resident=holder, fiscal_year=year)
        TaxPaymentFactory(resident=holder, fiscal_year=year)
    return holder


def card_file(
    directory: Path, card: Card, holder: Resident, *, pin: str = "1234", credential: str = "card"
) -> Path:
    """A SPEC §4 card file for ``card`` (the private key encrypted with the PIN); with
    ``credential="smartphone"`` the file stands for the certificate in the holder's phone."""
    encrypted = card.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(pin.encode()),
    )
    content: dict[str, Any] = {
        "format": "saga-konbini-card/1",
        "card_id": f"{card.certificate.serial_number:x}"[:16],
        "scenario": "ok",
        "resident_code": holder.resident_code,
        "holder": {"name": holder.full_name, "birth_date": holder.birth_date.isoformat()},
        "pin": pin,
        "certificate": card.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "private_key": encrypted.decode(),
        "credential": credential,
    }
    scenario = "smartphone_ok" if credential == "smartphone" else "ok"
    content["scenario"] = scenario
    path = directory / f"{scenario}-{content['card_id']}.json"
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return path


def pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def printed_names(pdf: bytes) -> set[str]:
    """The persons' names in every verification payload of the PDF (signature checked)."""
    names: set[str] = set()
    for token in read_verification_payloads(pdf):
        facts = payload_verify(token)
        names.update(str(person[0]) for person in facts.get("p", []))
    return names


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
