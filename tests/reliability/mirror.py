"""The source side of the mirror for reliability tests: feed records, their expected end state, and
per-table checksums that compare it with what the mirror holds."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any

from simulators.core_system import MirrorState, mirror_state_from_records, mirror_state_load

TABLES = ("households", "residents", "seals", "assessments", "payments", "card_links")


def state_checksums(state: MirrorState) -> dict[str, str]:
    """One SHA-256 per table over its records in key order (canonical JSON)."""
    sums: dict[str, str] = {}
    for table in TABLES:
        rows: dict[str, dict[str, Any]] = getattr(state, table)
        digest = hashlib.sha256()
        for key in sorted(rows):
            digest.update(json.dumps([key, rows[key]], sort_keys=True, ensure_ascii=False).encode())
            digest.update(b"\n")
        sums[table] = f"{len(rows)}:{digest.hexdigest()}"
    return sums


def mirror_checksums() -> dict[str, str]:
    return state_checksums(mirror_state_load())


def first_differences(expected: MirrorState, actual: MirrorState, limit: int = 3) -> list[str]:
    """A few differing keys per table, so that a failure says where, not only that."""
    found: list[str] = []
    for table in TABLES:
        want: dict[str, Any] = getattr(expected, table)
        got: dict[str, Any] = getattr(actual, table)
        keys = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        found.extend(f"{table}:{k}: expected {want.get(k)!r} got {got.get(k)!r}" for k in keys[:limit])
    return found


@dataclass
class Source:
    """The core system's side: the current records by (entity, key), and what it sent."""

    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def load_full(self, lines: list[dict[str, Any]]) -> None:
        self.records = {(line["entity"], line["key"]): line for line in lines}

    def apply_delta(self, lines: list[dict[str, Any]]) -> None:
        for line in lines:
            if line["op"] == "delete":
                self.records.pop((line["entity"], line["key"]), None)
            else:
                self.records[(line["entity"], line["key"])] = line

    def state(self) -> MirrorState:
        return mirror_state_from_records(list(self.records.values()))

    def full_lines(self) -> list[dict[str, Any]]:
        return list(self.records.values())

    def delta(self, rng: random.Random, *, changes: int) -> list[dict[str, Any]]:
        """Plausible changes that stay valid: names swapped between residents of the same sex,
        household addresses exchanged, tax payments settled, card links and payments deleted."""
        by_entity: dict[str, list[dict[str, Any]]] = {}
        for line in self.records.values():
            by_entity.setdefault(line["entity"], []).append(line)
        out: dict[tuple[str, str], dict[str, Any]] = {}

        def upsert(line: dict[str, Any], data: dict[str, Any]) -> None:
            out[(line["entity"], line["key"])] = {**line, "data": data}

        residents = by_entity.get("resident", [])
        for _ in range(changes):
            a, b = rng.sample(residents, 2)
            if a["data"]["sex"] == b["data"]["sex"]:
                upsert(
                    a,
                    {
                        **a["data"],
                        "given_name": b["data"]["given_name"],
                        "given_name_kana": b["data"]["given_name_kana"],
                    },
                )
        households = by_entity.get("household", [])
        for _ in range(changes // 4):
            a, b = rng.sample(households, 2)
            upsert(a, {**a["data"], "address": b["data"]["address"]})
        payments = by_entity.get("tax_payment", [])
        for line in rng.sample(payments, min(len(payments), changes // 2)):
            data = line["data"]
            upsert(line, {**data, "paid": data["assessed"], "unpaid": 0})
        deletes = []
        for entity in ("card_link", "tax_payment"):
            rows = by_entity.get(entity, [])
            for line in rng.sample(rows, min(len(rows), changes // 10)):
                if (entity, line["key"]) not in out:
                    deletes.append({"op": "delete", "entity": entity, "key": line["key"]})
        return list(out.values()) + deletes
