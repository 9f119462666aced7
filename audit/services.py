"""The one door into the audit log (SPEC §6).

Every service that touches personal data calls ``audit_record`` inside its own transaction, with
the actor passed explicitly. Payloads are checked for personal data: a forbidden key is a
programming error and raises, so it is caught by tests instead of reaching the log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.chain import seal_after_commit
from audit.models import AuditEvent, AuditEventResident, AuditPending
from audit.request_scope import request_id_current, request_source_current
from audit.sealed_batch import batch_current

# Keys that could carry a My Number, a PIN, a secret or a document's content.
_FORBIDDEN_KEY = re.compile(
    r"my_?number|kojin_?bango|pin|token|password|secret|private_key|signature|challenge|document|pdf|content",
    re.IGNORECASE,
)
# A bare 12-digit number anywhere in a payload string could be a My Number.
_TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")


class AuditPayloadError(ValueError):
    """A payload would have put personal data or a secret into the audit log."""


@dataclass(frozen=True)
class Actor:
    """Who acts. ``id`` is stable (user id, terminal id, job name); ``label`` is for people."""

    kind: str
    id: str
    label: str

    @classmethod
    def job(cls, name: str) -> Actor:
        return cls(kind=AuditEvent.ActorKind.JOB, id=name, label=name)

    @classmethod
    def system(cls) -> Actor:
        return cls(kind=AuditEvent.ActorKind.SYSTEM, id="system", label="system")

    @classmethod
    def public(cls) -> Actor:
        return cls(kind=AuditEvent.ActorKind.PUBLIC, id="public", label="public")

    @classmethod
    def user(cls, user: Any, *, kind: str = AuditEvent.ActorKind.CLERK) -> Actor:
        return cls(kind=kind, id=str(user.pk), label=user.get_username())

    @classmethod
    def terminal(cls, terminal: Any) -> Actor:
        return cls(kind=AuditEvent.ActorKind.TERMINAL, id=str(terminal.pk), label=str(terminal))


def _check_payload(value: Any, path: str = "payload") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _FORBIDDEN_KEY.search(str(key)):
                raise AuditPayloadError(f"{path}.{key}: this key may not appear in an audit payload")
            _check_payload(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_payload(item, f"{path}[{index}]")
    elif isinstance(value, str) and _TWELVE_DIGITS.search(value):
        raise AuditPayloadError(f"{path}: a 12-digit number may not appear in an audit payload")


def audit_record(
    *,
    actor: Actor,
    action: str,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    reason: str = "",
    resident_ids: Iterable[int] = (),
    certificate_numbers: Iterable[str] = (),
    payload: Mapping[str, Any] | None = None,
    source: str = "",
    request_id: str = "",
) -> AuditEvent:
    """Record one audit event. Call it inside the transaction of the act it records.

    The event is chained (``seq``, hash) right after that transaction commits: see audit/chain.py
    for why the head lock is not taken here. Inside ``audit_sealed_batch`` it is inserted and chained
    by the batch's ``flush`` instead, at the end of the transaction (audit/sealed_batch.py).
    Raises ``AuditPayloadError`` for a forbidden payload.
    """
    _check_payload(payload or {})
    # Round-trip through JSON now, so the stored payload is exactly what the chain will hash
    # (tuples become lists, keys become strings) and non-JSON values fail here, not later.
    clean_payload = json.loads(json.dumps(dict(payload or {})))
    residents = sorted({int(pk) for pk in resident_ids})
    numbers = [str(number) for number in certificate_numbers]
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        outcome=outcome,
        reason=reason,
        resident_ids=residents,
        certificate_numbers=numbers,
        # Unless given, the request being served (audit/request_scope.py): "from where" is never lost.
        source=source or request_source_current(),
        request_id=request_id or request_id_current(),
        payload=clean_payload,
    )
    batch = batch_current()
    if batch is not None and batch.takes_events_now():
        # Inserted and chained together with the transaction's other events, at its end. Not inside
        # a savepoint: an event there must roll back with it, so it is inserted now like any other.
        # A transaction already doomed to roll back refuses loudly, as the insert would have.
        connection.validate_no_broken_transaction()
        batch.events.append(event)
        return event
    event_insert_pending(event)
    return event


def event_insert_pending(event: AuditEvent) -> None:
    """Insert ``event`` with its pending row, to be chained after the transaction commits."""
    if connection.vendor == "postgresql" and connection.get_autocommit() and not connection.in_atomic_block:
        # Outside a transaction the one statement below is a transaction of its own: no BEGIN and
        # COMMIT round trips around it. The seal then runs at once (committed already).
        _insert_postgresql(event)
        seal_after_commit(event_id=event.pk)
        return
    # No savepoint: a failed insert here must fail the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _insert_postgresql(event)
        else:
            _insert_orm(event)
        seal_after_commit(event_id=event.pk)


def _insert_orm(event: AuditEvent) -> None:
    """Event, resident index rows and pending row, through the ORM (SQLite, and the reference)."""
    event.save(force_insert=True)
    if event.resident_ids:
        AuditEventResident.objects.bulk_create(
            AuditEventResident(event=event, resident_id=pk) for pk in event.resident_ids
        )
    AuditPending.objects.create(event=event)


# The same three inserts in one round trip: audit_record runs inside every issuance, and the
# cost of auditing per issuance must stay small (bench/audit.py).
_INSERT_SQL = """
WITH e AS (
    INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_id, actor_label, action, outcome,
        reason, resident_ids, certificate_numbers, source, request_id, payload)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s::jsonb)
    RETURNING id
), s AS (
    INSERT INTO audit_auditeventresident (event_id, resident_id)
    SELECT e.id, r FROM e, unnest(%s::bigint[]) AS r
), p AS (
    INSERT INTO audit_auditpending (event_id) SELECT id FROM e
)
SELECT id FROM e
"""


def _insert_postgresql(event: AuditEvent) -> None:
    params = [
        event.occurred_at,
        event.actor_kind,
        event.actor_id,
        event.actor_label,
        event.action,
        event.outcome,
        event.reason,
        json.dumps(event.resident_ids),
        json.dumps(event.certificate_numbers),
        event.source,
        event.request_id,
        json.dumps(event.payload),
        event.resident_ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)
        row = cursor.fetchone()
    assert row is not None
    event.pk = row[0]
    # The instance now stands for a stored row: saving it again must be an (refused) update.
    event._state.adding = False
    event._state.db = connection.alias
