"""Writing core-system batches (SPEC §5) for tests: records, lines, .jsonl + manifest."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from residents.my_number import my_number_check_digit

ISSUER = "CN=JPKI for user authentication,OU=JPKI for user authentication,O=JPKI (TEST),C=JP"
# A 1x1 PNG: the validator checks the signature bytes, the renderer (elsewhere) the picture.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()


def my_number(seed: int) -> str:
    first = f"{seed:011d}"
    return first + str(my_number_check_digit(first))


def household(code: str = "H001", **changes: Any) -> dict[str, Any]:
    data = {"household_code": code, "address": "佐賀県佐賀市栄町1番1号", "head_resident_code": "R001"}
    data.update(changes)
    return data


def resident(
    code: str = "R001", household_code: str = "H001", seed: int = 1, **changes: Any
) -> dict[str, Any]:
    data = {
        "resident_code": code,
        "household_code": household_code,
        "family_name": "佐賀",
        "given_name": "太郎",
        "family_name_kana": "サガ",
        "given_name_kana": "タロウ",
        "birth_date": "1980-04-01",
        "sex": "male",
        "relationship": "世帯主",
        "address": "佐賀県佐賀市栄町1番1号",
        "became_resident_on": "1980-04-01",
        "address_since": "2005-10-01",
        "previous_address": "",
        "honseki": "佐賀県佐賀市栄町1番地",
        "hittosha": "佐賀　一郎",
        "my_number": my_number(seed),
        "status": "active",
        "status_changed_on": None,
        "adult_ward": False,
        "support_measure": False,
        "pending_change": False,
    }
    data.update(changes)
    return data


def seal(number: str = "S001", resident_code: str = "R001", **changes: Any) -> dict[str, Any]:
    data = {
        "registration_number": number,
        "resident_code": resident_code,
        "seal_image_png": PNG,
        "registered_on": "2010-05-06",
        "status": "active",
        "abolished_on": None,
    }
    data.update(changes)
    return data


def tax_assessment(resident_code: str = "R001", fiscal_year: int = 2025, **changes: Any) -> dict[str, Any]:
    data = {
        "resident_code": resident_code,
        "fiscal_year": fiscal_year,
        "address_on_jan1": "佐賀県佐賀市栄町1番1号",
        "declared": True,
        "income": {"給与所得": 3_560_000},
        "total_income": 3_560_000,
        "deductions": {"基礎控除": 430_000, "社会保険料控除": 520_000},
        "total_deductions": 950_000,
        "taxable_income": 2_610_000,
        "municipal_income_levy": 156_600,
        "municipal_per_capita": 3_500,
        "prefectural_income_levy": 104_400,
        "prefectural_per_capita": 2_500,
        "total_tax": 267_000,
        "released_on": f"{fiscal_year}-06-01",
    }
    data.update(changes)
    return data


def tax_payment(
    resident_code: str = "R001", fiscal_year: int = 2025, tax_item: str = "個人市県民税", **changes: Any
) -> dict[str, Any]:
    data = {
        "resident_code": resident_code,
        "fiscal_year": fiscal_year,
        "tax_item": tax_item,
        "assessed": 267_000,
        "paid": 200_000,
        "unpaid": 67_000,
    }
    data.update(changes)
    return data


def card_link(serial: str = "1a2b3c", resident_code: str = "R001", **changes: Any) -> dict[str, Any]:
    data = {"issuer": ISSUER, "serial": serial, "resident_code": resident_code, "active_from": "2024-01-10"}
    data.update(changes)
    return data


def key_of(entity: str, data: dict[str, Any]) -> str:
    if entity == "household":
        return str(data["household_code"])
    if entity == "resident":
        return str(data["resident_code"])
    if entity == "seal_registration":
        return str(data["registration_number"])
    if entity == "tax_assessment":
        return f"{data['resident_code']}:{data['fiscal_year']}"
    if entity == "tax_payment":
        return f"{data['resident_code']}:{data['fiscal_year']}:{data['tax_item']}"
    return f"{data['issuer']}:{data['serial']}"


def upsert(entity: str, data: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    return {
        "op": "upsert",
        "entity": entity,
        "key": key if key is not None else key_of(entity, data),
        "data": data,
    }


def delete(entity: str, key: str) -> dict[str, Any]:
    return {"op": "delete", "entity": entity, "key": key}


def family(
    household_code: str = "H001", codes: tuple[str, ...] = ("R001", "R002"), seed: int = 1
) -> list[dict[str, Any]]:
    """A household with its members, each with a seal, a tax year, a payment and a card link."""
    lines = [upsert("household", household(household_code, head_resident_code=codes[0]))]
    for offset, code in enumerate(codes):
        lines.append(upsert("resident", resident(code, household_code, seed=seed + offset)))
    for offset, code in enumerate(codes):
        lines.append(upsert("seal_registration", seal(f"S{code}", code)))
        lines.append(upsert("tax_assessment", tax_assessment(code)))
        lines.append(upsert("tax_payment", tax_payment(code)))
        lines.append(upsert("card_link", card_link(f"{seed + offset:x}f", code)))
    return lines


@dataclass
class Written:
    jsonl: Path
    manifest: Path
    sha256: str


def write_batch(
    inbox: Path,
    number: int,
    lines: list[Any],
    *,
    kind: str = "delta",
    with_manifest: bool = True,
    records: int | None = None,
    sha256: str | None = None,
    raw: bytes | None = None,
    manifest_override: dict[str, Any] | None = None,
) -> Written:
    """Write ``NNNNNNNNNN.jsonl`` then its manifest (last, as the core system does). ``raw`` replaces
    the data bytes; ``records``/``sha256``/``manifest_override`` falsify the manifest for reject tests."""
    body = (
        raw
        if raw is not None
        else b"".join(
            (json.dumps(line, ensure_ascii=False) + "\n").encode() if not isinstance(line, bytes) else line
            for line in lines
        )
    )
    jsonl = inbox / f"{number:010d}.jsonl"
    jsonl.write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    manifest_path = inbox / f"{number:010d}.manifest.json"
    if with_manifest:
        manifest: dict[str, Any] = {
            "batch": number,
            "kind": kind,
            "records": records if records is not None else body.count(b"\n"),
            "sha256": sha256 or digest,
            "created_at": "2026-11-26T09:00:00+09:00",
        }
        manifest.update(manifest_override or {})
        manifest_path.write_text(json.dumps(manifest))
    return Written(jsonl=jsonl, manifest=manifest_path, sha256=digest)
