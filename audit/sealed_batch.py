"""Audit events of one short transaction, inserted and chained in one statement just before its commit.

The sealer (audit/chain.py) chains events after their transaction commits, because a writer that
locked the chain head at its first event would hold the lock through the rest of its work. A
caller whose transaction ends right after its last statement (a kiosk call: one transaction per
request) can do better: ``audit_sealed_batch`` collects the events ``audit_record`` is asked for,
and ``flush`` inserts them all at the end, in one statement that also locks the head, links each
event (PostgreSQL's ``sha256`` over the canonical bytes the application built, around the event id
and seq that only the database knows) and moves the head. The head lock is then held only from
that statement to the commit, and no sealing round trips or commit follow the request's own.

The chain's properties stay those of the sealer: seq and hash are taken under the head lock, in
the transaction that commits the events, so concurrent writers neither fork the chain nor leave a
gap, and a rollback takes the events and their links away together. Whatever cannot take this path
(SQLite, no head row yet, a payload whose JSON PostgreSQL would store differently) is inserted as
``audit_record`` always does, and sealed after the commit.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from django.db import connection
from django.utils import timezone

from audit.chain import event_canonical_bytes, seal_after_commit
from audit.models import AuditEvent

# Stand-ins for the event id and seq in the canonical text: the application's text is cut around
# them, and the database puts the real values in their place.
_ID_MARK = -918273645546372819
_SEQ_MARK = -918273645546372818
_BATCH_ATTRIBUTE = "audit_sealed_batch"


class AuditSealedBatch:
    """The events recorded so far in the current transaction, to be inserted by ``flush``."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        # The savepoints open when the batch began (a test's own transaction, say): an event recorded
        # inside a savepoint opened later must roll back with it, so it does not wait in the batch.
        self.savepoint_depth = _savepoints_open()

    def takes_events_now(self) -> bool:
        return connection.in_atomic_block and _savepoints_open() <= self.savepoint_depth

    def flush(self) -> None:
        """Insert and chain the events (the transaction's last statement); a no-op when empty."""
        events, self.events = self.events, []
        if not events:
            return
        parts = [_canonical_parts(event) for event in events]
        if connection.vendor != "postgresql" or any(part is None for part in parts):
            for event in events:
                _insert_for_sealer(event)
            return
        sealed = _insert_sealed(events, [part for part in parts if part is not None])
        if not sealed:
            # No head row yet: the events went to the pending queue; the sealer creates the head.
            for event in events:
                seal_after_commit(event_id=event.pk)


def _savepoints_open() -> int:
    # Django notes an atomic block without a savepoint (savepoint=False) as None.
    return sum(1 for savepoint in connection.savepoint_ids if savepoint is not None)


def batch_current() -> AuditSealedBatch | None:
    return getattr(connection, _BATCH_ATTRIBUTE, None)


@contextlib.contextmanager
def audit_sealed_batch() -> Iterator[AuditSealedBatch]:
    """Collect this connection's audit events until ``flush``; use inside one atomic block, and call
    ``flush`` as its last statement. Events left unflushed (an exception) are dropped with it."""
    batch = AuditSealedBatch()
    previous = batch_current()
    setattr(connection, _BATCH_ATTRIBUTE, batch)
    try:
        yield batch
    finally:
        setattr(connection, _BATCH_ATTRIBUTE, previous)


def _insert_for_sealer(event: AuditEvent) -> None:
    from audit.services import event_insert_pending

    event_insert_pending(event)


def _has_float(value: Any) -> bool:
    # jsonb keeps numbers as numerics: 1e+20 comes back as an int, and the verifier, which hashes
    # what it reads back, would then see other bytes than the ones hashed here.
    if isinstance(value, float):
        return True
    if isinstance(value, Mapping):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_float(item) for item in value)
    return False


def _canonical_parts(event: AuditEvent) -> tuple[str, str, str] | None:
    """The canonical text cut before the event id, between it and the seq, and after the seq."""
    if _has_float(event.payload):
        return None
    texts = (event.actor_kind, event.actor_id, event.actor_label, event.action, event.outcome)
    if not all(isinstance(value, str) for value in (*texts, event.reason, event.source, event.request_id)):
        # Hashed as given here but stored as text: an int would verify as altered. The after-commit
        # sealer hashes what it reads back, so it takes such an event.
        return None
    row = (
        _ID_MARK,
        event.occurred_at,
        event.actor_kind,
        event.actor_id,
        event.actor_label,
        event.action,
        event.outcome,
        event.reason,
        event.resident_ids,
        event.certificate_numbers,
        event.source,
        event.request_id,
        event.payload,
    )
    text = event_canonical_bytes(seq=_SEQ_MARK, row=row).decode("utf-8")
    id_mark, seq_mark = str(_ID_MARK), str(_SEQ_MARK)
    if text.count(id_mark) != 1 or text.count(seq_mark) != 1:
        return None
    before_id, rest = text.split(id_mark)
    between, after_seq = rest.split(seq_mark) if seq_mark in rest else (None, None)
    if between is None or after_seq is None:
        return None
    return before_id, between, after_seq


# Insert the events, their resident index rows and their links, and move the head, in one
# statement. The head row is locked first (FOR UPDATE waits, then reads the latest committed head);
# the links are computed by a recursive walk from it, in the order the events were recorded.
# Ids are drawn from the events' sequence beforehand, by place (a CTE with nextval is evaluated
# once). Without a head row nothing is linked: the events go to
# the pending queue instead, and the first column returned is false.
_SEALED_INSERT_SQL = """
WITH RECURSIVE h AS (
    SELECT seq, hash FROM audit_auditchainhead WHERE id = 1 FOR UPDATE
), src AS (
    SELECT * FROM unnest(
        %s::int[], %s::timestamptz[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[],
        %s::varchar[], %s::text[], %s::jsonb[], %s::jsonb[], %s::varchar[], %s::varchar[], %s::jsonb[],
        %s::text[], %s::text[], %s::text[]
    ) AS s(ord, occurred_at, actor_kind, actor_id, actor_label, action, outcome, reason,
           resident_ids, certificate_numbers, source, request_id, payload, before_id, between, after_seq)
), n AS (
    -- Each event's id taken here, by its place: the links below pair ids and canonical texts by it.
    SELECT ord, nextval(pg_get_serial_sequence('audit_auditevent', 'id')) AS id FROM src
), e AS (
    INSERT INTO audit_auditevent (id, occurred_at, actor_kind, actor_id, actor_label, action, outcome,
        reason, resident_ids, certificate_numbers, source, request_id, payload)
    SELECT n.id, occurred_at, actor_kind, actor_id, actor_label, action, outcome, reason, resident_ids,
           certificate_numbers, source, request_id, payload
    FROM src JOIN n USING (ord) ORDER BY ord
    RETURNING id
), c(ord, seq, prev_hash, hash, event_id) AS (
    SELECT 0::bigint, h.seq, h.hash::text, h.hash::text, 0::bigint FROM h
    UNION ALL
    SELECT c.ord + 1, c.seq + 1, c.hash,
           encode(sha256(decode(c.hash, 'hex') || convert_to(
               s.before_id || n.id::text || s.between || (c.seq + 1)::text || s.after_seq, 'UTF8'
           )), 'hex'),
           n.id
    FROM c JOIN n ON n.ord = c.ord + 1 JOIN src s ON s.ord = c.ord + 1
), l AS (
    INSERT INTO audit_auditchainlink (seq, event_id, prev_hash, hash, sealed_at)
    SELECT seq, event_id, prev_hash, hash, %s FROM c WHERE ord > 0
), p AS (
    INSERT INTO audit_auditpending (event_id) SELECT id FROM e WHERE NOT EXISTS (SELECT 1 FROM h)
), r AS (
    INSERT INTO audit_auditeventresident (event_id, resident_id)
    SELECT n.id, x.resident_id FROM unnest(%s::bigint[], %s::bigint[]) AS x(ord, resident_id)
    JOIN n ON n.ord = x.ord
), u AS (
    UPDATE audit_auditchainhead SET seq = c.seq, hash = c.hash
    FROM c WHERE audit_auditchainhead.id = 1 AND c.ord = %s
)
SELECT EXISTS (SELECT 1 FROM h), (SELECT array_agg(n.id ORDER BY n.ord) FROM n JOIN e USING (id))
"""


def _insert_sealed(events: list[AuditEvent], parts: list[tuple[str, str, str]]) -> bool:
    """Insert and chain ``events``; False when they were queued for the sealer instead."""
    positions = range(1, len(events) + 1)
    resident_positions = [
        pos for pos, event in zip(positions, events, strict=True) for _ in event.resident_ids
    ]
    params: list[Any] = [
        list(positions),
        [event.occurred_at for event in events],
        [event.actor_kind for event in events],
        [event.actor_id for event in events],
        [event.actor_label for event in events],
        [event.action for event in events],
        [event.outcome for event in events],
        [event.reason for event in events],
        [json.dumps(event.resident_ids) for event in events],
        [json.dumps(event.certificate_numbers) for event in events],
        [event.source for event in events],
        [event.request_id for event in events],
        [json.dumps(event.payload) for event in events],
        [part[0] for part in parts],
        [part[1] for part in parts],
        [part[2] for part in parts],
        timezone.now(),
        resident_positions,
        [pk for event in events for pk in event.resident_ids],
        len(events),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_SEALED_INSERT_SQL, params)
        row = cursor.fetchone()
    assert row is not None
    sealed, ids = bool(row[0]), list(row[1])
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        # The instance now stands for a stored row: saving it again must be an (refused) update.
        event._state.adding = False
        event._state.db = connection.alias
    return sealed
