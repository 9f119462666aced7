"""What the sync keeps of a record it quarantines (SPEC §5): the record as received with every My
Number replaced, in a form the database can store, a keyed digest of a key that held one, the
blocks on the residents it concerns and its audit event; and the resolution by a later valid record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from sync.models import Batch, QuarantinedRecord, ResidentBlock
from sync.redaction import my_numbers_redact
from sync.services.bulk import QUERY_CHUNK, chunks
from sync.validation import RecordInvalid


@dataclass
class Quarantine:
    line: int
    op: str
    entity: str
    key: str  # as received: finds the residents the record concerns
    error: RecordInvalid
    record: Any
    resident_codes: set[str]
    stored_key: str = ""  # the key and the reason as stored, My Numbers replaced
    reason: str = ""
    key_digest: str = ""  # set when the stored key lost a My Number: see quarantine_key_digest
    my_numbers_removed: int = 0
    household_code: str = ""  # the household a resident record names, as received


def sanitized(record: Any) -> tuple[Any, int]:
    """The record as received, every My Number replaced by a marker (the archive keeps the original
    bytes), in a form the database can store; and how many My Numbers were removed."""
    if not isinstance(record, dict):
        return None, 0
    clean, removed = my_numbers_redact(record)
    return storable(clean), removed


def quarantine_key_digest(entity: str, key: str) -> str:
    """A keyed hash of a quarantined record's key as received, stored when the key itself held a My
    Number and is stored redacted: a later valid record for that key must still resolve the record
    and release its blocks (SPEC §5), which the redacted key alone cannot tell. Keyed with the
    SECRET_KEY, since a plain hash of 10^11 possible My Numbers is reversed by trying them all."""
    secret = hashlib.sha256(b"sync.QuarantinedRecord.key_digest" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(secret, f"{entity}:{key}".encode(), hashlib.sha256).hexdigest()


def storable(value: Any) -> Any:
    """PostgreSQL's text and jsonb cannot hold U+0000: show it as the visible escape ``\\x00``
    so that a record carrying one is quarantined for a clerk to see instead of crashing the batch."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def quarantine_store(
    *, items: list[Quarantine], batch: Batch, actor: Actor, resident_ids: dict[str, int]
) -> None:
    """QuarantinedRecord, a ResidentBlock per resident concerned and one audit event per quarantined
    record (SPEC §5, §6). ``resident_ids`` maps the resident codes of the mirror to their ids."""
    records = QuarantinedRecord.objects.bulk_create(
        [
            QuarantinedRecord(
                batch=batch,
                line_number=item.line,
                op=item.op,
                entity=item.entity,
                key=item.stored_key[:300],
                reason_code=item.error.reason_code,
                reason=item.reason,
                record=_jsonable(item.record),
                my_numbers_removed=item.my_numbers_removed,
                key_digest=item.key_digest,
            )
            for item in items
        ]
    )
    ResidentBlock.objects.bulk_create(
        [
            ResidentBlock(resident_code=code, quarantined_record=record)
            for record, item in zip(records, items, strict=True)
            for code in sorted(item.resident_codes)
        ]
    )
    for item in items:
        audit_record(
            actor=actor,
            action="sync.record_quarantined",
            outcome=AuditEvent.Outcome.REFUSED,
            reason=item.error.reason_code,
            resident_ids=[resident_ids[c] for c in item.resident_codes if c in resident_ids],
            payload={
                "batch": batch.number,
                "line": item.line,
                "entity": item.entity,
                "reason_code": item.error.reason_code,
            },
        )


def quarantine_resolve(
    *, keys: dict[str, set[str]], digests: dict[str, set[str]], batch: Batch, stamp: datetime
) -> int:
    """A valid record for a quarantined (entity, key), by its key or its key's digest, resolves it and
    releases its blocks; how many were resolved."""
    resolved_ids: list[int] = []
    for entity, entity_keys in keys.items():
        for chunk in chunks(sorted(entity_keys), QUERY_CHUNK):
            resolved_ids.extend(
                QuarantinedRecord.objects.filter(
                    entity=entity, key__in=chunk, key_digest="", resolved_at__isnull=True
                ).values_list("pk", flat=True)
            )
    for entity, entity_digests in digests.items():
        for chunk in chunks(sorted(entity_digests), QUERY_CHUNK):
            resolved_ids.extend(
                QuarantinedRecord.objects.filter(
                    entity=entity, key_digest__in=chunk, resolved_at__isnull=True
                ).values_list("pk", flat=True)
            )
    for chunk in chunks(resolved_ids, QUERY_CHUNK):
        QuarantinedRecord.objects.filter(pk__in=chunk).update(resolved_at=stamp, resolved_by=batch)
        ResidentBlock.objects.filter(quarantined_record_id__in=chunk, released_at__isnull=True).update(
            released_at=stamp
        )
    return len(resolved_ids)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str)) if value is not None else None
