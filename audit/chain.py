"""The hash chain over audit events (SPEC §6): canonical bytes, link hashes, and the sealer.

Why events are chained after commit, by a sealer
------------------------------------------------
Writers are many concurrent transactions on several processes (kiosk issuances, clerks, sync
jobs). Chaining needs one total order, i.e. a lock on the chain head. Taking that lock inside
``audit_record`` would hold it from the first audit call until the writer's commit: an issuance
that records an event and then renders and signs a PDF would serialise every other issuance
behind its rendering. Django has no pre-commit hook that could take the lock "as late as
possible", so instead:

1. ``audit_record`` inserts the event and a row in ``AuditPending`` in the writer's transaction
   (no shared lock, writers run in parallel), and registers one ``on_commit`` callback per
   transaction that remembers the ids of the events it wrote.
2. After the commit, the callback runs ``chain_seal``: a short transaction of its own that locks
   the head row, takes every pending event in id order, gives each the next ``seq`` and its hash,
   inserts the ``AuditChainLink`` rows, deletes the pending rows and moves the head -- on
   PostgreSQL in two round trips (lock and read; write and commit), without waiting for fsync
   (the seal is derived data, redone if lost). The callback first tries the lock without
   waiting; if another sealer holds it, it waits only when its own events are still pending
   afterwards: under load one sealer chains the events of many writers.

A writer whose transaction ends right after its last statement (a kiosk call) need not wait for
the sealer: audit/sealed_batch.py inserts its events and links them, under the same head lock, in
one statement just before its commit, so that the lock is held only from there to the commit.

Measured (bench/audit.py): the whole cost of auditing one issuance, the insert in the issuance's
transaction plus the seal after it, against the issuance without auditing, in the same run.

Ids may commit out of order (id 11 commits before id 10): that is harmless, because the chain
order is the sealing order, not the id order. A sealer only sees committed events, and ``seq`` is
taken under the head lock, so there are neither gaps nor forks; ``seq`` is the primary key and
``event`` is unique, so a fork or a double seal would also be refused by the database. An event
whose writer died between commit and seal stays pending until the next seal (any later commit, or
the checkpoint beat task, which seals first). ``audit_verify`` reports pending events and treats an
event that is neither chained nor pending as a break.

Canonical form (version 1) of event ``seq`` -- built by the application, never by the database:
    UTF-8 of ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` where
    ``obj`` has exactly these keys: ``v`` (1), ``seq``, ``event_id``, ``occurred_at`` (UTC,
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, always six fraction digits), ``actor_kind``, ``actor_id``,
    ``actor_label``, ``action``, ``outcome``, ``reason``, ``resident_ids`` (sorted ints),
    ``certificate_numbers`` (list of strings, as recorded), ``source``, ``request_id``,
    ``payload`` (a JSON object; nested keys are sorted too).
Link hash: ``hash_n = SHA-256(bytes.fromhex(hash_{n-1}) || canonical_n)`` as lowercase hex, with
``hash_0`` = 64 zeros (``GENESIS_HASH``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit.models import AuditChainHead, AuditChainLink, AuditEvent, AuditPending

logger = logging.getLogger(__name__)

CHAIN_VERSION = 1
GENESIS_HASH = "0" * 64

# The event columns that the canonical form covers, in the order the sealer and the verifier read them.
EVENT_FIELDS: tuple[str, ...] = (
    "id",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "outcome",
    "reason",
    "resident_ids",
    "certificate_numbers",
    "source",
    "request_id",
    "payload",
)
DEFAULT_CHUNK = 5000
_ZERO = timedelta(0)


def canonical_time(value: datetime) -> str:
    """UTC with microseconds and a Z: the one fixed time format of the canonical form."""
    if (value.tzinfo is UTC or value.utcoffset() == _ZERO) and value.year >= 1000:
        # The strftime below, built from isoformat, several times cheaper (it was a large share of
        # verifying a row). isoformat drops a zero fraction, and pads the year to four digits where
        # strftime does not: hence the bound.
        text = value.isoformat()
        return text[:26] + "Z" if value.microsecond else text[:19] + ".000000Z"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, with the
    encoder built once: json.dumps builds a new one for every call, which cost as much as the
    encoding of an event itself. The same C encoder json.dumps uses, with the same settings
    (without the check for circular references, which JSON read from the database cannot have)."""
    encoder = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
    )
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:  # a Python built without the _json accelerator
        return encoder.encode
    iterencode = make_c_encoder(
        None, encoder.default, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
    return lambda value: "".join(iterencode(value, 0))


_canonical_json = _canonical_encoder()
# The string encoder json.dumps uses with ensure_ascii=False (the C one where available).
_encode_string = json.encoder.encode_basestring


def event_canonical_bytes(*, seq: int, row: Sequence[Any]) -> bytes:
    """The canonical bytes of one event (see the module docstring); ``row`` follows EVENT_FIELDS."""
    (
        event_id,
        occurred_at,
        actor_kind,
        actor_id,
        actor_label,
        action,
        outcome,
        reason,
        resident_ids,
        certificate_numbers,
        source,
        request_id,
        payload,
    ) = row
    occurred = canonical_time(occurred_at)
    try:
        return _canonical_text(
            seq, event_id, occurred, actor_kind, actor_id, actor_label, action, outcome, reason,
            resident_ids, certificate_numbers, source, request_id, payload,
        ).encode("utf-8")  # fmt: skip
    except TypeError:
        pass  # a value of another type than its column's: the general encoder decides
    obj = {
        "v": CHAIN_VERSION,
        "seq": seq,
        "event_id": event_id,
        "occurred_at": occurred,
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "actor_label": actor_label,
        "action": action,
        "outcome": outcome,
        "reason": reason,
        "resident_ids": resident_ids,
        "certificate_numbers": certificate_numbers,
        "source": source,
        "request_id": request_id,
        "payload": payload,
    }
    return _canonical_json(obj).encode("utf-8")


def _canonical_text(
    seq: Any, event_id: Any, occurred: str, actor_kind: Any, actor_id: Any, actor_label: Any,
    action: Any, outcome: Any, reason: Any, resident_ids: Any, certificate_numbers: Any, source: Any,
    request_id: Any, payload: Any,
) -> str:  # fmt: skip
    """The canonical object written key by key, in sorted order, for the types its columns hold:
    what json.dumps writes for them, a third cheaper (the verifier does this for every event).
    Raises TypeError for any other type (a text that is not a str, an id that is not an int)."""
    if type(seq) is not int or type(event_id) is not int:  # bool is an int that JSON writes as true
        raise TypeError("not an int")
    text = _encode_string  # raises TypeError for anything but a str
    return (
        f'{{"action":{text(action)},"actor_id":{text(actor_id)},"actor_kind":{text(actor_kind)},'
        f'"actor_label":{text(actor_label)},"certificate_numbers":{_canonical_json(certificate_numbers)},'
        f'"event_id":{event_id},"occurred_at":{text(occurred)},"outcome":{text(outcome)},'
        f'"payload":{_canonical_json(payload)},"reason":{text(reason)},"request_id":{text(request_id)},'
        f'"resident_ids":{_canonical_json(resident_ids)},"seq":{seq},"source":{text(source)},'
        f'"v":{CHAIN_VERSION}}}'
    )


def link_hash(*, prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


_LOCK_HEAD_SQL = (
    "SELECT set_config('synchronous_commit', 'off', true), seq, hash "
    "FROM audit_auditchainhead WHERE id = 1 FOR UPDATE"
)
_TRY_LOCK_HEAD_SQL = _LOCK_HEAD_SQL + " SKIP LOCKED"


def _lock_head(*, wait: bool) -> tuple[int, str] | None:
    """Lock the head row until the end of the transaction; its (seq, hash), or None if busy.

    The row is created on first use (or in a freshly flushed test database), starting after the
    last link if there is one.
    """
    for _ in range(2):
        if connection.vendor == "postgresql":
            # One round trip: the lock, and no fsync wait at commit while holding it. Sealing is
            # derived data: a crash that loses this commit also loses its deletions from the
            # pending queue (WAL order), so the next sealer simply seals the same events again.
            with connection.cursor() as cursor:
                cursor.execute(_LOCK_HEAD_SQL if wait else _TRY_LOCK_HEAD_SQL)
                found = cursor.fetchone()
            if found is not None:
                return int(found[1]), str(found[2])
        else:
            # SQLite: the IMMEDIATE transaction already holds the database's write lock.
            head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
            if head is not None:
                return head
        if AuditChainHead.objects.filter(pk=1).exists():
            return None  # locked by another sealer (SKIP LOCKED)
        last = AuditChainLink.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, last_hash = last if last else (0, GENESIS_HASH)
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(pk=1, seq=seq, hash=last_hash)], ignore_conflicts=True
        )
    raise RuntimeError("audit chain head row could not be created")


def _links_for(rows: Sequence[Sequence[Any]], *, head: tuple[int, str]) -> list[AuditChainLink]:
    """Number and hash ``rows`` (EVENT_FIELDS order, id order) after the current head."""
    now = timezone.now()
    seq, prev = head
    links = []
    for row in rows:
        seq += 1
        current = link_hash(prev_hash=prev, canonical=event_canonical_bytes(seq=seq, row=row))
        links.append(AuditChainLink(seq=seq, event_id=row[0], prev_hash=prev, hash=current, sealed_at=now))
        prev = current
    return links


def _seal_batch_atomic(*, batch_size: int, wait: bool) -> int | None:
    """One batch inside a Django transaction (SQLite; or inside a caller's atomic block)."""
    with transaction.atomic():
        head = _lock_head(wait=wait)
        if head is None:
            return None
        # Read after taking the lock: a sealer that held it before us has committed, so the
        # events it chained are no longer pending (READ COMMITTED: each statement sees the
        # latest commits).
        # The ids first, as a list: ``pk__in=<subquery>`` lets PostgreSQL plan a scan of the whole
        # event table (it grows without end) where the primary key finds the batch directly.
        batch = list(
            AuditPending.objects.order_by("event_id").values_list("event_id", flat=True)[:batch_size]
        )
        rows = list(AuditEvent.objects.filter(pk__in=batch).order_by("pk").values_list(*EVENT_FIELDS))
        if not rows:
            return 0
        links = _links_for(rows, head=head)
        write = _write_links_postgresql if connection.vendor == "postgresql" else _write_links_orm
        write(links, head_seq=links[-1].seq, head_hash=links[-1].hash)
    return len(links)


# The read half of a PostgreSQL seal in one round trip: begin, lock the head (the statement
# finishes once the lock is held), then read the pending events with a fresh snapshot.
# ``= ANY(ARRAY(...))`` and not ``IN (SELECT ...)``: with IN, the planner may hash-join against a
# sequential scan of the whole event table, whose cost grows with every event ever recorded;
# the array form always looks the batch up by primary key.
_SEAL_READ_SQL = """
BEGIN;
SELECT set_config('synchronous_commit', 'off', true), seq, hash FROM audit_auditchainhead
WHERE id = 1 FOR UPDATE{skip};
SELECT id, occurred_at, actor_kind, actor_id, actor_label, action, outcome, reason, resident_ids,
       certificate_numbers, source, request_id, payload
FROM audit_auditevent
WHERE id = ANY(ARRAY(SELECT event_id FROM audit_auditpending ORDER BY event_id LIMIT %s))
ORDER BY id
"""
_SEAL_READ_WAIT_SQL = _SEAL_READ_SQL.replace("{skip}", "")
_SEAL_READ_SKIP_SQL = _SEAL_READ_SQL.replace("{skip}", " SKIP LOCKED")
_HEAD_MISSING = -1


def _seal_batch_postgresql(*, batch_size: int, wait: bool) -> int | None:
    """One batch in two round trips (lock and read; write and commit), outside any transaction.

    This runs after every audited commit, on the request's path: it is the cost of auditing.
    Returns ``_HEAD_MISSING`` when the head row does not exist yet (the atomic path creates it).
    """
    with connection.cursor() as cursor:
        try:
            cursor.execute(_SEAL_READ_WAIT_SQL if wait else _SEAL_READ_SKIP_SQL, [batch_size])
            cursor.nextset()  # past BEGIN
            head = cursor.fetchone()
            cursor.nextset()
            rows = [_as_stored((None, None, None, *row))[3:] for row in cursor.fetchall()]
            if head is None:
                cursor.execute("ROLLBACK")
                exists = AuditChainHead.objects.filter(pk=1).exists()
                return None if exists else _HEAD_MISSING
            if not rows:
                cursor.execute("COMMIT")
                return 0
            links = _links_for(rows, head=(int(head[1]), str(head[2])))
            cursor.execute(_WRITE_LINKS_SQL + ";\nCOMMIT", _write_links_params(links))
        except BaseException:
            # Never leave the connection inside a transaction Django does not know about (if
            # the connection itself is gone, there is nothing left to roll back).
            with contextlib.suppress(DatabaseError):
                cursor.execute("ROLLBACK")
            raise
    return len(links)


def chain_seal(*, batch_size: int = 2000, wait: bool = True) -> int | None:
    """Chain every pending event, in id order, in batches. Returns how many were chained.

    Each batch is its own short transaction holding the head lock: seq and hash are assigned
    under the lock, so concurrent sealers cannot fork the chain or leave a gap. With
    ``wait=False`` it returns None at once when another sealer holds the lock.
    """
    connection.ensure_connection()
    total = 0
    while True:
        sealed: int | None = _HEAD_MISSING
        if (
            connection.vendor == "postgresql"
            and connection.get_autocommit()
            and not connection.in_atomic_block
        ):
            sealed = _seal_batch_postgresql(batch_size=batch_size, wait=wait)
        if sealed == _HEAD_MISSING:
            sealed = _seal_batch_atomic(batch_size=batch_size, wait=wait)
        if sealed is None:
            return None
        total += sealed
        wait = True  # later batches: we sealed once, keep going until the queue is empty
        if sealed < batch_size:
            return total


def _write_links_orm(links: list[AuditChainLink], *, head_seq: int, head_hash: str) -> None:
    AuditChainLink.objects.bulk_create(links)
    AuditPending.objects.filter(event_id__in=[link.event_id for link in links]).delete()
    AuditChainHead.objects.filter(pk=1).update(seq=head_seq, hash=head_hash)


# The sealer's three writes in one round trip, while it holds the head lock.
_WRITE_LINKS_SQL = """
WITH l AS (
    INSERT INTO audit_auditchainlink (seq, event_id, prev_hash, hash, sealed_at)
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[], %s::timestamptz[])
), d AS (
    DELETE FROM audit_auditpending WHERE event_id = ANY(%s::bigint[])
)
UPDATE audit_auditchainhead SET seq = %s, hash = %s WHERE id = 1
"""


def _write_links_params(links: list[AuditChainLink]) -> list[Any]:
    event_ids = [link.event_id for link in links]
    return [
        [link.seq for link in links],
        event_ids,
        [link.prev_hash for link in links],
        [link.hash for link in links],
        [link.sealed_at for link in links],
        event_ids,
        links[-1].seq,
        links[-1].hash,
    ]


def _write_links_postgresql(links: list[AuditChainLink], *, head_seq: int, head_hash: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_WRITE_LINKS_SQL, _write_links_params(links))


class SealAfterCommit:
    """The per-transaction ``on_commit`` callback: seals the chain if its events are still pending.

    It lives in the connection's list of on-commit callbacks (per thread, per transaction), never
    in module state; ``audit_record`` appends the ids of later events of the same transaction.
    """

    def __init__(self, event_ids: Iterable[int]) -> None:
        self.event_ids = list(event_ids)
        self.done = False

    def __call__(self) -> None:
        self.done = True
        try:
            # Uncontended: seal at once. Contended: the sealer holding the lock may have read the
            # queue before our commit, so wait for the lock only if our events are still pending.
            if (
                chain_seal(wait=False) is None
                and AuditPending.objects.filter(event_id__in=self.event_ids).exists()
            ):
                chain_seal()
        except DatabaseError:
            # The act and its events are committed; only their sealing failed (the database went
            # away just after the commit). They stay in the pending queue, and the next sealer (the
            # next audited transaction, or the checkpoint task) chains them in order. The request
            # that committed them must not fail for it.
            logger.warning("audit chain sealing deferred: the database is unavailable")


def seal_after_commit(*, event_id: int) -> None:
    """Make sure the current transaction seals the chain after it commits (once per transaction)."""
    connection = transaction.get_connection()
    for entry in connection.run_on_commit:
        callback = entry[1]
        # A callback that already ran belongs to a finished transaction (test helpers that
        # capture callbacks leave them in the list).
        if isinstance(callback, SealAfterCommit) and not callback.done:
            callback.event_ids.append(event_id)
            return
    # robust: a failed seal must not turn a committed act into an error; the events stay
    # pending and the next seal (or the checkpoint task) chains them.
    transaction.on_commit(SealAfterCommit([event_id]), robust=True)


@dataclass(frozen=True)
class ChainBreak:
    """The first thing found wrong. ``code`` is for machines, ``message`` for people.

    The message is translated when it is built (Japanese by default, in the active language): it is
    only shown (the verify screen, ``audit_verify``), never stored.
    """

    code: str
    message: str
    seq: int | None = None
    event_id: int | None = None


class ChainBroken(Exception):
    def __init__(self, problem: ChainBreak) -> None:
        super().__init__(problem.message)
        self.problem = problem


# Columns in EVENT_FIELDS order (a test checks that they agree).
_CHAIN_SQL = """
SELECT l.seq, l.prev_hash, l.hash, e.id, e.occurred_at, e.actor_kind, e.actor_id, e.actor_label,
       e.action, e.outcome, e.reason, e.resident_ids, e.certificate_numbers, e.source, e.request_id,
       e.payload
FROM audit_auditchainlink l JOIN audit_auditevent e ON e.id = l.event_id
WHERE l.seq > %s AND l.seq <= %s ORDER BY l.seq LIMIT %s
"""
_JSON_COLUMNS = tuple(
    3 + EVENT_FIELDS.index(name) for name in ("resident_ids", "certificate_numbers", "payload")
)
_TIME_COLUMN = 3 + EVENT_FIELDS.index("occurred_at")
_NO_LIMIT = 2**62


def _as_stored(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Raw cursor values as the ORM would give them: decoded JSON, aware UTC datetimes."""
    values = list(row)
    for index in _JSON_COLUMNS:
        if isinstance(values[index], str):
            values[index] = json.loads(values[index])
    moment = values[_TIME_COLUMN]
    if isinstance(moment, str):  # SQLite keeps datetimes as text, in UTC
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    values[_TIME_COLUMN] = moment
    return tuple(values)


def chain_links(
    *, after_seq: int = 0, until_seq: int | None = None, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of (seq, prev_hash, hash, *event fields) in seq order, by keyset (no OFFSET).

    Raw SQL rather than the ORM: audit_verify reads millions of rows and the ORM's per-row
    conversions cost more than the hashing.
    """
    last = after_seq
    limit = _NO_LIMIT if until_seq is None else until_seq
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_CHAIN_SQL, [last, limit, chunk_size])
            chunk = [_as_stored(row) for row in cursor.fetchall()]
        if not chunk:
            return
        yield chunk
        last = chunk[-1][0]
        if len(chunk) < chunk_size:
            return


# The resident index rows of the events linked at seq first..last, grouped by event in order: one
# join over the chunk's seq range (no list of ids to send) that both PostgreSQL and SQLite run.
_SUBJECTS_SQL = """
SELECT r.event_id, r.resident_id
FROM audit_auditeventresident r JOIN audit_auditchainlink l ON l.event_id = r.event_id
WHERE l.seq >= %s AND l.seq <= %s ORDER BY r.event_id, r.resident_id
"""


def _subjects_by_event(first_seq: int, last_seq: int) -> dict[int, list[int]]:
    """Each event's indexed residents (sorted) among the links ``first_seq``..``last_seq``."""
    with connection.cursor() as cursor:
        cursor.execute(_SUBJECTS_SQL, [first_seq, last_seq])
        rows = cursor.fetchall()
    return {int(event_id): [int(row[1]) for row in group] for event_id, group in groupby(rows, itemgetter(0))}


def _link_where(seq: int, event_id: int) -> str:
    """Which link a message is about; built only when one is broken (gettext costs per link)."""
    return gettext("連番 %(seq)s(イベントID %(event_id)s)") % {"seq": seq, "event_id": event_id}


_RESIDENT_IDS = 3 + EVENT_FIELDS.index("resident_ids")
_NOBODY: list[int] = []


def check_links(
    chunk: list[tuple[Any, ...]],
    *,
    expected_seq: int,
    running_hash: str,
    check_subjects: bool = True,
    digests: list[bytes] | None = None,
) -> tuple[int, str]:
    """Check one chunk of links; returns the next expected seq and the running hash.

    With ``digests``, the 32 bytes of each link hash checked are appended to it (the Merkle leaves,
    without decoding the hex again). Raises ``ChainBroken`` naming the first bad link.
    """
    subjects: dict[int, list[int]] = {}
    if check_subjects and chunk:
        subjects = _subjects_by_event(chunk[0][0], chunk[-1][0])
    sha256 = hashlib.sha256
    prev_digest: bytes | None = None  # the running hash as bytes, once a link has been checked
    for link in chunk:
        seq, prev_hash, current, event_id = link[0], link[1], link[2], link[3]
        if seq != expected_seq:
            raise ChainBroken(
                ChainBreak(
                    "seq_gap",
                    gettext("連番 %(expected)s が欠けています(次に見つかったのは連番 %(seq)s)")
                    % {"expected": expected_seq, "seq": seq},
                    seq=expected_seq,
                )
            )
        if prev_hash != running_hash:
            raise ChainBroken(
                ChainBreak(
                    "prev_hash_mismatch",
                    gettext("%(where)s: 直前のハッシュが一致しません")
                    % {"where": _link_where(seq, event_id)},
                    seq,
                    event_id,
                )
            )
        if prev_digest is None:
            prev_digest = bytes.fromhex(prev_hash)
        # link_hash, with the previous hash kept as bytes from one link to the next.
        digest = sha256(prev_digest + event_canonical_bytes(seq=seq, row=link[3:])).digest()
        if digest.hex() != current:
            raise ChainBroken(
                ChainBreak(
                    "event_altered",
                    gettext("%(where)s: 記録内容がハッシュと一致しません(改ざん)")
                    % {"where": _link_where(seq, event_id)},
                    seq,
                    event_id,
                )
            )
        if check_subjects:
            resident_ids = link[_RESIDENT_IDS]
            indexed = subjects.get(event_id, _NOBODY)
            # The same residents as sets; equal sorted lists (the usual case) need no sets built.
            if indexed != resident_ids and set(indexed) != set(resident_ids):
                raise ChainBroken(
                    ChainBreak(
                        "subjects_altered",
                        gettext("%(where)s: 対象住民の索引が記録内容と一致しません")
                        % {"where": _link_where(seq, event_id)},
                        seq,
                        event_id,
                    )
                )
        if digests is not None:
            digests.append(digest)
        expected_seq, running_hash, prev_digest = seq + 1, current, digest
    return expected_seq, running_hash
