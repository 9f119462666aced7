"""What the sync keeps of a record it quarantines: the record as received with every My Number
replaced, in a form the database can store, and a keyed digest of a key that held one (SPEC §5)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from sync.redaction import my_numbers_redact
from sync.validation import (
    RecordInvalid,
)


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
