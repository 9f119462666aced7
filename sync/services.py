"""Applying the core-system feed to the mirror (SPEC §5).

``sync_run`` is the one door: the Celery beat task and ``manage.py sync_run`` both call it. It works
in steps, each one database transaction that holds the SyncCursor row lock, so two workers never act
on the line at the same time and a batch is applied at most once. Files move only after the step's
transaction has committed; a crash in between leaves a file whose number is already applied, and the
next run recognises it by its checksum and only moves it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Model, Q
from django.utils import timezone
from psycopg.types.json import set_json_dumps

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from residents.crypto import my_number_encrypt
from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from saga_konbini.roles import actor_permission_require
from sync.bulk import (
    CopyStream,
    CopyStreamFailed,
    column_types,
    foreign_keys_checked_once,
    garbage_collector_paused,
    json_dumps_fast,
    tables_owned,
)
from sync.errors import BatchRejected, Misconfigured, RetryLater
from sync.feed import (
    ARCHIVE_DIR,
    REJECTED_DIR,
    BatchFile,
    BatchScan,
    InboxEntry,
    Manifest,
    batch_file_open,
    batch_files_move,
    batch_lines,
    batch_records,
    batch_scan,
    file_sha256,
    inbox_path,
    inbox_scan,
    manifest_read,
)
from sync.models import Batch, QuarantinedRecord, ResidentBlock, SyncAlert, SyncCursor
from sync.redaction import my_numbers_redact, my_numbers_redact_text
from sync.selectors import mirror_freshness
from sync.validation import (
    ENTITY_LABELS,
    ENTITY_ORDER,
    VALIDATORS,
    Clean,
    RecordInvalid,
    resident_codes_in,
    validate_delete_key,
)

logger = logging.getLogger(__name__)

# Rows per INSERT (and per savepoint): large enough for bulk speed, small enough that a refused
# row is found by bisection in a few steps.
WRITE_CHUNK = 20_000
_QUERY_CHUNK = 5_000
_MODELS: dict[str, type[Model]] = {
    "household": Household,
    "resident": Resident,
    "seal_registration": SealRegistration,
    "tax_assessment": TaxAssessment,
    "tax_payment": TaxPayment,
    "card_link": CardLink,
}
_CONFLICT_FIELDS: dict[str, tuple[str, ...]] = {
    "household": ("household_code",),
    "resident": ("resident_code",),
    "seal_registration": ("registration_number",),
    "tax_assessment": ("resident_id", "fiscal_year"),
    "tax_payment": ("resident_id", "fiscal_year", "tax_item"),
    "card_link": ("issuer", "serial"),
}
_ENVELOPE = frozenset({"op", "entity", "key", "data"})
_DB_REFUSED = "データベースの整合性制約に違反するため適用できません。基幹系のデータを確認してください。"


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOutcome:
    number: int
    status: str  # "applied", "rejected" or "leftover_archived"
    kind: str = ""
    records_applied: int = 0
    records_quarantined: int = 0
    reason_code: str = ""
    reason: str = ""


@dataclass
class SyncRunResult:
    """What one run did. ``stopped`` is empty when the line is caught up or waiting for a batch
    still being written; otherwise it names why the line stops (gap, rejected)."""

    outcomes: list[BatchOutcome] = field(default_factory=list)
    stopped: str = ""
    stopped_at: int | None = None
    message: str = ""

    @property
    def applied(self) -> list[BatchOutcome]:
        return [o for o in self.outcomes if o.status == Batch.Status.APPLIED]

    @property
    def rejected(self) -> list[BatchOutcome]:
        return [o for o in self.outcomes if o.status == Batch.Status.REJECTED]

    @property
    def line_stopped(self) -> bool:
        return bool(self.stopped)


@dataclass
class _Step:
    outcome: BatchOutcome | None = None
    move: InboxEntry | None = None
    move_to: str = ""
    batch_id: int | None = None
    stop: str = ""
    stop_at: int | None = None
    message: str = ""
    done: bool = False
    error: Exception | None = None


# --- the entry point ----------------------------------------------------------------------------


def sync_run(*, actor: Actor | None = None, now: datetime | None = None) -> SyncRunResult:
    """Apply every pending batch in the inbox, in number order, until the line is caught up or
    stops at a gap or a rejected batch (SPEC §5).

    Raises RetryLater when the inbox cannot be read (an ``outage`` alert is open meanwhile) and
    Misconfigured when the configuration is wrong (a ``misconfigured`` alert is open), and
    ``PermissionDenied`` (audited as refused) when a staff actor lacks ``sync.run_sync``.
    """
    actor = actor or Actor.job("sync")
    # A staff member runs it through 「今すぐ連携」, which needs sync.run_sync (係長); the periodic
    # task and the command run as jobs.
    actor_permission_require(actor=actor, permission="sync.run_sync", action="sync.run")
    result = SyncRunResult()
    while True:
        step = _step(actor=actor, now=now)
        if step.move is not None:
            stored = batch_files_move(entry=step.move, inbox=_inbox(), folder=step.move_to, now=_now(now))
            if step.batch_id is not None and stored:
                Batch.objects.filter(pk=step.batch_id).update(stored_as=stored)
        if step.error is not None:
            raise step.error
        if step.outcome is not None:
            result.outcomes.append(step.outcome)
        if step.stop or step.done:
            result.stopped, result.stopped_at, result.message = step.stop, step.stop_at, step.message
            _staleness_check(now=_now(now))
            return result


def _staleness_check(*, now: datetime) -> None:
    """A ``stale`` alert while no batch was applied within SYNC_MAX_LAG_SECONDS (/readyz says the same)."""
    with transaction.atomic():
        SyncCursor.objects.select_for_update().filter(pk=1).first()
        freshness = mirror_freshness(now=now)  # read under the lock: another worker may just have applied
        if freshness.is_fresh:
            _alert_clear(kinds=[SyncAlert.Kind.STALE], now=now)
        else:
            last = freshness.last_applied_at
            since = timezone.localtime(last).strftime("%Y-%m-%d %H:%M") if last else "未適用"
            message = (
                f"基幹系の連携が遅れています(最終適用: {since})。基幹系からの送信状況を確認してください。"
            )
            _alert_raise(kind=SyncAlert.Kind.STALE, batch_number=None, message=message, now=now)


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _inbox() -> Path:
    return inbox_path(settings.SYNC_INBOX_DIR)


def _step(*, actor: Actor, now: datetime | None) -> _Step:
    """One unit of work under the cursor lock: apply, reject or tidy one batch, or stop."""
    with transaction.atomic():
        SyncCursor.objects.get_or_create(pk=1)
        # The lock orders the line: a second worker waits here and then sees the advanced cursor.
        cursor = SyncCursor.objects.select_for_update().get(pk=1)
        stamp = _now(now)
        cursor.last_checked_at = stamp
        cursor.save(update_fields=["last_checked_at"])
        try:
            inbox = _inbox()
            entries = inbox_scan(inbox=inbox)
            for sub in (ARCHIVE_DIR, REJECTED_DIR):
                # A symlinked archive/ would carry batches out of the inbox.
                if (inbox / sub).is_symlink() or ((inbox / sub).exists() and not (inbox / sub).is_dir()):
                    raise Misconfigured(f"受信フォルダ内の {sub} が通常のフォルダではありません。")
        except RetryLater as exc:
            _alert_raise(kind=SyncAlert.Kind.OUTAGE, batch_number=None, message=exc.message, now=stamp)
            return _Step(error=exc, stop="outage", message=exc.message)
        except Misconfigured as exc:
            _alert_raise(kind=SyncAlert.Kind.MISCONFIGURED, batch_number=None, message=exc.message, now=stamp)
            return _Step(error=exc, stop="misconfigured", message=exc.message)
        _alert_clear(kinds=[SyncAlert.Kind.OUTAGE, SyncAlert.Kind.MISCONFIGURED], now=stamp)

        next_number = cursor.next_batch_number
        if next_number is not None:
            for number in sorted(n for n in entries if n < next_number):
                step = _leftover_handle(entry=entries[number], actor=actor, stamp=stamp, now=now)
                if step is not None:
                    return step
        if next_number is None and not entries:
            return _Step(done=True, message="未処理の連携バッチはありません。")
        number = min(entries) if next_number is None else next_number
        entry = entries.get(number)
        rejected_open = SyncAlert.objects.filter(
            kind=SyncAlert.Kind.REJECTED, batch_number=number, cleared_at__isnull=True
        ).exists()
        if entry is None and rejected_open:
            message = f"連携番号 {number:010d} は受付拒否されています。修正した連携の再送を待っています。"
            return _Step(stop="rejected", stop_at=number, message=message)
        if entry is None and not any(n > number for n in entries):
            SyncAlert.objects.filter(
                kind=SyncAlert.Kind.GAP, batch_number=number, cleared_at__isnull=True
            ).update(cleared_at=stamp)
            return _Step(done=True, message="未処理の連携バッチはありません。")
        if entry is None:
            message = f"連携番号 {number:010d} が届いていません(後続の番号は受信済み)。"
            message += "欠番の再送を依頼してください。"
            _alert_raise(kind=SyncAlert.Kind.GAP, batch_number=number, message=message, now=stamp)
            return _Step(stop="gap", stop_at=number, message=message)
        if entry.manifest is None:
            if any(e.manifest is not None for n, e in entries.items() if n > number):
                return _reject(
                    entry=entry,
                    manifest=None,
                    error=BatchRejected(
                        "manifest_missing",
                        "マニフェストがありません(後続の連携は完了しているため、書き込み途中ではありません)。再送を依頼してください。",
                    ),
                    actor=actor,
                    stamp=stamp,
                    now=now,
                    line=True,
                )
            return _Step(done=True, message=f"連携番号 {number:010d} は書き込み中です(マニフェスト待ち)。")
        manifest: Manifest | None = None
        try:
            if entry.jsonl is None:
                raise BatchRejected(
                    "data_missing",
                    "データファイル(.jsonl)がなくマニフェストだけが届いています。再送を依頼してください。",
                )
            manifest = manifest_read(path=entry.manifest, number=number)
            if next_number is None and manifest.kind != Batch.Kind.FULL:
                raise BatchRejected(
                    "first_batch_not_full",
                    "最初の連携は全件(full)でなければなりません。全件連携を依頼してください。",
                )
            # Opened once: the checks and the apply read the same bytes through one descriptor, each
            # pass checked against the manifest at its end. A line defect or a mismatch found while
            # applying undoes everything applied so far (savepoint).
            with batch_file_open(path=entry.jsonl, manifest=manifest) as batch_file, transaction.atomic():
                batch = _batch_apply(entry=entry, batch_file=batch_file, actor=actor, stamp=stamp, now=now)
        except BatchRejected as exc:
            return _reject(
                entry=entry, manifest=manifest, error=exc, actor=actor, stamp=stamp, now=now, line=True
            )
        cursor.next_batch_number = number + 1
        cursor.last_applied_at = stamp
        cursor.save(update_fields=["next_batch_number", "last_applied_at"])
        # The line moved past these numbers: their gap / rejection alerts are over.
        SyncAlert.objects.filter(
            kind__in=[SyncAlert.Kind.GAP, SyncAlert.Kind.REJECTED],
            batch_number__lte=number,
            cleared_at__isnull=True,
        ).update(cleared_at=stamp)
        outcome = BatchOutcome(
            number=number,
            status=Batch.Status.APPLIED,
            kind=batch.kind,
            records_applied=batch.records_applied,
            records_quarantined=batch.records_quarantined,
        )
        return _Step(outcome=outcome, move=entry, move_to=ARCHIVE_DIR, batch_id=batch.pk)


def _leftover_handle(
    *, entry: InboxEntry, actor: Actor, stamp: datetime, now: datetime | None
) -> _Step | None:
    """A number below the cursor: a crash leftover (same bytes as applied) is only archived;
    anything else is rejected, since an applied batch is never applied twice (SPEC §5)."""
    applied = Batch.objects.filter(number=entry.number, status=Batch.Status.APPLIED).first()
    try:
        if entry.jsonl is not None:
            sha = file_sha256(entry.jsonl)
        elif entry.manifest is not None:
            sha = manifest_read(path=entry.manifest, number=entry.number).sha256
        else:  # pragma: no cover - inbox_scan only lists numbers with a file
            return None
    except BatchRejected as exc:
        if exc.reason_code == "file_missing":
            return _Step(done=False)  # another worker just moved it: look again
        sha = ""
    if applied is not None and sha == applied.sha256:
        return _Step(
            outcome=BatchOutcome(number=entry.number, status="leftover_archived", kind=applied.kind),
            move=entry,
            move_to=ARCHIVE_DIR,
        )
    if applied is not None:
        error = BatchRejected(
            "already_applied",
            f"連携番号 {entry.number:010d} は適用済みですが、内容が異なるものが再び届きました。"
            "同じ番号は二度適用しません。",
        )
    else:
        error = BatchRejected(
            "number_before_line",
            f"連携番号 {entry.number:010d} は現在の連携の開始番号より前のため適用できません。",
        )
    return _reject(entry=entry, manifest=None, error=error, actor=actor, stamp=stamp, now=now, line=False)


def _reject(
    *,
    entry: InboxEntry,
    manifest: Manifest | None,
    error: BatchRejected,
    actor: Actor,
    stamp: datetime,
    now: datetime | None,
    line: bool,
) -> _Step:
    """Record a whole-batch rejection (SPEC §5); the files go to rejected/ after commit. ``line`` is
    true when the rejected number is the line's next one: then the line stops and an alert stays
    open until a corrected batch of that number applies."""
    sha = ""
    if entry.jsonl is not None:
        try:
            sha = file_sha256(entry.jsonl)
        except (BatchRejected, RetryLater):
            sha = ""
    batch = Batch.objects.create(
        number=entry.number,
        kind=manifest.kind if manifest else "",
        status=Batch.Status.REJECTED,
        records_declared=manifest.records if manifest else None,
        sha256=sha,
        manifest_created_at=manifest.created_at if manifest else None,
        received_at=stamp,
        finished_at=_now(now),
        reason_code=error.reason_code,
        reason=error.reason,
    )
    message = f"連携番号 {entry.number:010d} を受付拒否しました: {error.reason}"
    if line:
        _alert_raise(kind=SyncAlert.Kind.REJECTED, batch_number=entry.number, message=message, now=stamp)
    audit_record(
        actor=actor,
        action="sync.batch_rejected",
        outcome=AuditEvent.Outcome.FAILURE,
        reason=error.reason_code,
        payload={"batch": entry.number, "kind": batch.kind, "reason_code": error.reason_code},
    )
    logger.warning("sync batch %010d rejected: %s", entry.number, error.reason_code)
    return _Step(
        outcome=BatchOutcome(
            number=entry.number,
            status=Batch.Status.REJECTED,
            kind=batch.kind,
            reason_code=error.reason_code,
            reason=error.reason,
        ),
        move=entry,
        move_to=REJECTED_DIR,
        batch_id=batch.pk,
        stop="rejected" if line else "",
        stop_at=entry.number if line else None,
        message=message,
    )


# --- alerts -------------------------------------------------------------------------------------


def _alert_raise(*, kind: str, batch_number: int | None, message: str, now: datetime) -> None:
    """One open alert per (kind, batch number); seeing the condition again refreshes it."""
    alert = SyncAlert.objects.filter(kind=kind, batch_number=batch_number, cleared_at__isnull=True).first()
    if alert is None:
        SyncAlert.objects.create(
            kind=kind, batch_number=batch_number, message=message, raised_at=now, last_seen_at=now
        )
    else:
        alert.last_seen_at = now
        alert.message = message
        alert.save(update_fields=["last_seen_at", "message"])


def _alert_clear(*, kinds: Sequence[str], now: datetime) -> None:
    SyncAlert.objects.filter(kind__in=kinds, cleared_at__isnull=True).update(cleared_at=now)


# --- applying one batch -------------------------------------------------------------------------


class _OutOfOrder(Exception):
    """The batch's lines are not grouped in entity order: the one-pass reader cannot apply it."""


@dataclass(slots=True)  # one per record of a group: slots keep a full load's memory down
class _Final:
    """The last line of the batch for one (entity, key): earlier lines for the key are superseded."""

    line: int
    op: str
    clean: Clean | None = None
    error: RecordInvalid | None = None
    record: Any = None  # kept only for quarantine, as received: _quarantine removes the My Numbers


@dataclass
class _Quarantine:
    line: int
    op: str
    entity: str
    key: str  # as received: finds the residents the record concerns
    error: RecordInvalid
    record: Any
    resident_codes: set[str]
    stored_key: str = ""  # the key and the reason as stored, My Numbers replaced
    reason: str = ""
    key_digest: str = ""  # set when the stored key lost a My Number: see _key_digest
    my_numbers_removed: int = 0
    household_code: str = ""  # the household a resident record names, as received


def _sanitized(record: Any) -> tuple[Any, int]:
    """The record as received, every My Number replaced by a marker (the archive keeps the original
    bytes), in a form the database can store; and how many My Numbers were removed."""
    if not isinstance(record, dict):
        return None, 0
    clean, removed = my_numbers_redact(record)
    return _storable(clean), removed


def _key_digest(entity: str, key: str) -> str:
    """A keyed hash of a quarantined record's key as received, stored when the key itself held a My
    Number and is stored redacted: a later valid record for that key must still resolve the record
    and release its blocks (SPEC §5), which the redacted key alone cannot tell. Keyed with the
    SECRET_KEY, since a plain hash of 10^11 possible My Numbers is reversed by trying them all."""
    secret = hashlib.sha256(b"sync.QuarantinedRecord.key_digest" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(secret, f"{entity}:{key}".encode(), hashlib.sha256).hexdigest()


def _storable(value: Any) -> Any:
    """PostgreSQL's text and jsonb cannot hold U+0000: show it as the visible escape ``\\x00``
    so that a record carrying one is quarantined for a clerk to see instead of crashing the batch."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _BatchApplier:
    """Applies one scanned batch inside the caller's transaction; see SPEC §5 for the rules."""

    def __init__(self, *, batch_file: BatchFile, batch: Batch, stamp: datetime) -> None:
        self.batch_file = batch_file
        manifest = batch_file.manifest
        self.kind = manifest.kind
        self.batch = batch
        self.stamp = stamp
        self.full = manifest.kind == Batch.Kind.FULL
        self.quarantined: list[_Quarantine] = []
        # Keys of the batch per parent entity: in a full batch a reference must point into the batch.
        self.batch_keys: dict[str, set[str]] = {"household": set(), "resident": set()}
        self.delta_deletes: dict[str, list[tuple[int, str]]] = {"household": [], "resident": []}
        self.full_stale: dict[str, list[int]] = {"household": [], "resident": []}
        self.touched_codes: set[str] = set()
        unresolved = QuarantinedRecord.objects.filter(resolved_at__isnull=True).values_list(
            "entity", "key", "key_digest"
        )
        self.watch: dict[str, set[str]] = defaultdict(set)
        # Quarantined records whose stored key is redacted are watched through their key's digest.
        self.watch_digests: dict[str, set[str]] = defaultdict(set)
        for entity, key, digest in unresolved:
            if digest:
                self.watch_digests[entity].add(digest)
            else:
                self.watch[entity].add(key)
        self.resolved: dict[str, set[str]] = defaultdict(set)
        self.resolved_digests: dict[str, set[str]] = defaultdict(set)
        self.postgres = connection.vendor == "postgresql"
        self.all_resident_ids: dict[str, int] | None = None
        # Tables empty before their group is written take a plain COPY (the initial load).
        self.empty: dict[str, bool] = {}
        self.direct_ok = True
        self.all_household_ids: dict[str, int] | None = None
        # The initial load streams each group through one COPY (sync/bulk.py CopyStream).
        self.streaming = False
        self.stream: CopyStream | None = None

    # -- reading and validating ------------------------------------------------------------------

    def _finals(self, entity: str, records: Iterable[tuple[int, dict[str, Any]]]) -> dict[str, _Final]:
        # A later line for the same key supersedes an earlier one: the batch's last word counts.
        return dict(self._final_items(entity, records))

    def _final_items(
        self, entity: str, records: Iterable[tuple[int, dict[str, Any]]]
    ) -> Iterator[tuple[str, _Final]]:
        validate = VALIDATORS[entity]
        for line, record in records:
            op = record["op"]
            key = record.get("key")
            if not isinstance(key, str) or not key or len(key) > 300:
                self._quarantine(
                    line=line,
                    op=op,
                    entity=entity,
                    key="",
                    error=RecordInvalid("invalid_key", "キー(key)がないか、文字列でないか、長すぎます。"),
                    record=record,
                )
                continue
            final = _Final(line=line, op=op)
            try:
                if not record.keys() <= _ENVELOPE:
                    raise RecordInvalid(
                        "unknown_field", "レコードに op / entity / key / data 以外の項目があります。"
                    )
                if op == "upsert":
                    final.clean = validate(key, record.get("data"))
                else:
                    validate_delete_key(entity, key)
            except RecordInvalid as exc:
                final.error = exc
                final.record = record
            yield key, final

    def _quarantine(
        self,
        *,
        line: int,
        op: str,
        entity: str,
        key: str,
        error: RecordInvalid,
        record: Any,
        resident_codes: Iterable[str] = (),
    ) -> None:
        # Every quarantined record passes here, and only what leaves here is stored: the one place
        # where the My Numbers are taken out. The residents it concerns are read from the record as
        # received, so a resident code that happens to pass the My Number check still blocks.
        key = _storable(key)
        data = record.get("data") if isinstance(record, dict) else None
        codes = {_storable(code) for code in (*resident_codes_in(entity, key, data), *resident_codes)}
        stored, removed = _sanitized(record)
        # The key and the reason are shown and searched in the admin beside the record: a key that is
        # a My Number, or a field name or value that validation quoted into the reason, is taken out
        # the same way.
        stored_key, key_removed = my_numbers_redact_text(key)
        key_digest = _key_digest(entity, key) if key_removed else ""
        label = ENTITY_LABELS.get(entity, entity)
        reason, reason_removed = my_numbers_redact_text(_storable(f"{label}: {error.reason}"))
        named = data.get("household_code") if isinstance(data, dict) else None
        self.quarantined.append(
            _Quarantine(
                line=line,
                op=op,
                entity=entity,
                key=key,
                error=error,
                record=stored,
                resident_codes=codes,
                stored_key=stored_key,
                reason=reason,
                key_digest=key_digest,
                my_numbers_removed=removed + key_removed + reason_removed,
                household_code=_storable(named) if isinstance(named, str) else "",
            )
        )

    def _quarantine_final(
        self, entity: str, key: str, final: _Final, error: RecordInvalid | None = None
    ) -> None:
        record = final.record
        if record is None and final.clean is not None:
            record = {"op": final.op, "entity": entity, "key": key, "data": _record_data(final.clean)}
        err = error or final.error
        assert err is not None
        self._quarantine(line=final.line, op=final.op, entity=entity, key=key, error=err, record=record)

    def _applied(self, entity: str, keys: Iterable[str]) -> None:
        watch = self.watch.get(entity)
        digests = self.watch_digests.get(entity)
        if digests:
            keys = list(keys)
            self.resolved_digests[entity].update(
                digest for digest in (_key_digest(entity, key) for key in keys) if digest in digests
            )
        if watch:
            self.resolved[entity].update(key for key in keys if key in watch)

    def _resolve_absent(self, entity: str, keys: set[str] | dict[str, Any]) -> None:
        """A full batch states the whole mirror: a quarantined key it no longer contains is over."""
        self.resolved[entity].update(key for key in self.watch.get(entity, ()) if key not in keys)
        digests = self.watch_digests.get(entity)
        if digests:
            present = {_key_digest(entity, key) for key in keys}
            self.resolved_digests[entity].update(digests - present)

    # -- lookups ---------------------------------------------------------------------------------

    def _ids_by_code(self, model: type[Model], field_name: str, codes: set[str]) -> dict[str, int]:
        if len(codes) > 10_000:
            return {code: pk for code, pk in model._default_manager.values_list(field_name, "pk")}
        ids: dict[str, int] = {}
        for chunk in _chunks(sorted(codes), _QUERY_CHUNK):
            ids.update(
                model._default_manager.filter(**{f"{field_name}__in": chunk}).values_list(field_name, "pk")
            )
        return ids

    def _household_ids(self, codes: set[str]) -> dict[str, int]:
        """Household ids for the resident group; in a full batch read once (households are done)."""
        if not self.full:
            return self._ids_by_code(Household, "household_code", codes)
        if self.all_household_ids is None:
            self.all_household_ids = dict(Household.objects.values_list("household_code", "pk"))
        return self.all_household_ids

    def _resident_ids(self, codes: set[str]) -> dict[str, int]:
        """Resident ids for the child entities. In a full batch the map of all residents is read once,
        after the resident group, and serves every child group (residents change only then)."""
        if not self.full:
            return self._ids_by_code(Resident, "resident_code", codes)
        if self.all_resident_ids is None:
            self.all_resident_ids = dict(Resident.objects.values_list("resident_code", "pk"))
        return self.all_resident_ids

    def _mirror_keys(self, entity: str) -> Iterator[tuple[int, str]]:
        """(id, natural key) of every mirror row of an entity, as the feed spells the key."""
        if entity == "household":
            yield from Household.objects.values_list("pk", "household_code").iterator(chunk_size=20_000)
        elif entity == "resident":
            yield from Resident.objects.values_list("pk", "resident_code").iterator(chunk_size=20_000)
        elif entity == "seal_registration":
            yield from SealRegistration.objects.values_list("pk", "registration_number").iterator(
                chunk_size=20_000
            )
        elif entity == "tax_assessment":
            rows = TaxAssessment.objects.values_list("pk", "resident__resident_code", "fiscal_year")
            for pk, code, year in rows.iterator(chunk_size=20_000):
                yield pk, f"{code}:{year}"
        elif entity == "tax_payment":
            rows3 = TaxPayment.objects.values_list("pk", "resident__resident_code", "fiscal_year", "tax_item")
            for pk, code, year, item in rows3.iterator(chunk_size=20_000):
                yield pk, f"{code}:{year}:{item}"
        else:
            for pk, issuer, serial in CardLink.objects.values_list("pk", "issuer", "serial").iterator(
                chunk_size=20_000
            ):
                yield pk, f"{issuer}:{serial}"

    def _ids_for_keys(self, entity: str, keys: set[str]) -> dict[str, int]:
        if not keys:
            return {}
        if entity in ("household", "resident", "seal_registration"):
            field_name = {"household": "household_code", "resident": "resident_code"}.get(
                entity, "registration_number"
            )
            return self._ids_by_code(_MODELS[entity], field_name, keys)
        if entity == "card_link":
            issuers = {key.rpartition(":")[0] for key in keys}
            rows = CardLink.objects.filter(issuer__in=issuers).values_list("pk", "issuer", "serial")
            return {f"{i}:{s}": pk for pk, i, s in rows if f"{i}:{s}" in keys}
        codes = {key.split(":", 1)[0] for key in keys}
        found: dict[str, int] = {}
        model = TaxAssessment if entity == "tax_assessment" else TaxPayment
        for chunk in _chunks(sorted(codes), _QUERY_CHUNK):
            if entity == "tax_assessment":
                for pk, code, year in model._default_manager.filter(
                    resident__resident_code__in=chunk
                ).values_list("pk", "resident__resident_code", "fiscal_year"):
                    found[f"{code}:{year}"] = pk
            else:
                for pk, code, year, item in TaxPayment.objects.filter(
                    resident__resident_code__in=chunk
                ).values_list("pk", "resident__resident_code", "fiscal_year", "tax_item"):
                    found[f"{code}:{year}:{item}"] = pk
        return {key: pk for key, pk in found.items() if key in keys}

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, entity: str, rows: list[tuple[str, _Final, dict[str, Any]]]) -> None:
        if entity not in self.empty:
            self.empty[entity] = not _MODELS[entity]._default_manager.exists()
        if self.streaming and self.postgres and self.empty[entity] and self.direct_ok:
            # An empty table and distinct keys: the rows go straight into the group's open COPY.
            if rows:
                self._stream_for(entity, rows).write([values for _, _, values in rows])
                self._applied(entity, (key for key, _, _ in rows))
            return
        for chunk in _chunks(rows, WRITE_CHUNK):
            self._write_chunk(entity, chunk)

    def _write_chunk(self, entity: str, chunk: Sequence[tuple[str, _Final, dict[str, Any]]]) -> None:
        """Upsert rows in one statement inside a savepoint. A row the database refuses despite
        validation is found by bisection and quarantined; the rest of the batch still applies."""
        try:
            with transaction.atomic():
                _upsert(
                    _MODELS[entity],
                    [values for _, _, values in chunk],
                    _CONFLICT_FIELDS[entity],
                    postgres=self.postgres,
                    direct=self.empty[entity] and self.direct_ok,
                )
        except (IntegrityError, DataError):
            if len(chunk) == 1:
                key, final, _ = chunk[0]
                self._quarantine_final(entity, key, final, RecordInvalid("db_refused", _DB_REFUSED))
                return
            middle = len(chunk) // 2
            self._write_chunk(entity, chunk[:middle])
            self._write_chunk(entity, chunk[middle:])
            return
        self._applied(entity, (key for key, _, _ in chunk))

    def _stream_for(self, entity: str, rows: list[tuple[str, _Final, dict[str, Any]]]) -> CopyStream:
        if self.stream is None:
            table = _MODELS[entity]._meta.db_table
            columns = list(rows[0][2])
            self.stream = CopyStream(table=table, columns=columns, types=column_types(table, columns))
        return self.stream

    def _stream_close(self) -> None:
        stream, self.stream, self.streaming = self.stream, None, False
        if stream is not None:
            stream.close()

    def _delete_ids(self, model: type[Model], ids: Sequence[int]) -> None:
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            for chunk in _chunks(list(ids), _QUERY_CHUNK):
                # The table name comes from the model's meta; the ids are bound parameters.
                placeholders = ",".join(["%s"] * len(chunk))
                cursor.execute(f"DELETE FROM {table} WHERE id IN ({placeholders})", list(chunk))  # noqa: S608

    def _residents_delete(self, ids: Sequence[int]) -> None:
        # The mirror's children follow their resident (on_delete=CASCADE), done here in SQL for speed.
        for chunk in _chunks(list(ids), _QUERY_CHUNK):
            for model in (CardLink, TaxPayment, TaxAssessment, SealRegistration):
                child_ids = list(
                    model._default_manager.filter(resident_id__in=chunk).values_list("pk", flat=True)
                )
                self._delete_ids(model, child_ids)
        self._delete_ids(Resident, ids)

    # -- the entities ----------------------------------------------------------------------------

    def apply_stream(self) -> None:
        """One pass over the file, parsing each line once: the common case, a batch written grouped
        in entity order. Raises _OutOfOrder (the caller undoes and uses apply_scanned) otherwise."""
        position = 0
        lines = batch_lines(batch=self.batch_file)
        for entity, group in itertools.groupby(lines, key=lambda item: item[1]):
            index = ENTITY_ORDER.index(entity)
            if index < position:
                raise _OutOfOrder
            for skipped in ENTITY_ORDER[position:index]:
                self._process(skipped, {})
            records = ((line, record) for line, _, record in group)
            if self.full and entity != "seal_registration":
                self._process_stream(entity, records)
            else:
                # Deltas are small; seals need the whole group for the one-active-seal rule.
                self._process(entity, self._finals(entity, records))
            position = index + 1
        for rest in ENTITY_ORDER[position:]:
            self._process(rest, {})
        self._final_deletes()

    def apply_scanned(self, scan: BatchScan) -> None:
        """One pass per entity over a batch whose lines are not grouped in entity order."""
        for entity in ENTITY_ORDER:
            self._process(
                entity, self._finals(entity, batch_records(batch=self.batch_file, scan=scan, entity=entity))
            )
        self._final_deletes()

    def _process(self, entity: str, finals: dict[str, _Final]) -> None:
        """Quarantine the group's invalid records, then apply the rest (SPEC §5 entity rules)."""
        if entity in self.batch_keys:
            self.batch_keys[entity] = set(finals)
        if self.full:
            self._full_stale(entity, set(finals))
        self._apply_group(entity, finals)
        if self.full:
            self._resolve_absent(entity, finals)

    def _apply_group(self, entity: str, finals: dict[str, _Final], *, direct_ok: bool = True) -> None:
        for key, final in finals.items():
            if final.error is not None:
                self._quarantine_final(entity, key, final)
        self.direct_ok = direct_ok
        getattr(self, f"_apply_{entity}")(finals)

    def _process_stream(self, entity: str, records: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """A full batch's group applied chunk by chunk, so that memory stays bounded at Saga scale
        (a full batch holds only upserts, and references point to earlier groups). A key already
        written by an earlier chunk is upserted again at the end: the last line still wins."""
        seen: set[str] = set()
        flushed: set[str] = set()
        chunk: dict[str, _Final] = {}
        late: dict[str, _Final] = {}
        self.streaming = True
        try:
            for key, final in self._final_items(entity, records):
                seen.add(key)
                if key in flushed:
                    late[key] = final
                    continue
                chunk[key] = final
                if len(chunk) >= WRITE_CHUNK:
                    self._apply_group(entity, chunk)
                    flushed.update(chunk)
                    chunk = {}
            self._apply_group(entity, chunk)
            self._stream_close()
        except BaseException:
            if self.stream is not None:
                self.stream.abandon()  # so that the rollback can reach the connection
            raise
        finally:
            self.stream, self.streaming = None, False
        del flushed
        if late:
            self._apply_group(entity, late, direct_ok=False)
        if entity in self.batch_keys:
            self.batch_keys[entity] = seen
        self._full_stale(entity, seen)
        self._resolve_absent(entity, seen)

    def _full_stale(self, entity: str, keys: set[str]) -> None:
        """A full batch replaces the mirror (SPEC §5): rows whose key it lacks are deleted.
        Children go now (nothing refers to them, and an old active seal must not clash with a
        new one); residents and households at the end, after their references moved."""
        if self.empty.get(entity):
            return  # the table was empty before this group: every row in it came from this batch
        stale = [pk for pk, key in self._mirror_keys(entity) if key not in keys]
        if entity in self.full_stale:
            self.full_stale[entity] = stale
        elif stale:
            self._delete_ids(_MODELS[entity], stale)

    def _valid(self, finals: dict[str, _Final], op: str = "upsert") -> Iterator[tuple[str, _Final]]:
        for key, final in finals.items():
            if final.error is None and final.op == op:
                yield key, final

    def _apply_household(self, finals: dict[str, _Final]) -> None:
        rows = [(key, final, dict(final.clean.values)) for key, final in self._valid(finals) if final.clean]
        self._write("household", rows)
        self.delta_deletes["household"] += [(final.line, key) for key, final in self._valid(finals, "delete")]

    def _apply_resident(self, finals: dict[str, _Final]) -> None:
        valid = [(key, final) for key, final in self._valid(finals) if final.clean]
        household_ids = self._household_ids({f.clean.household_code for _, f in valid if f.clean})
        rows = []
        for key, final in valid:
            assert final.clean is not None
            values = dict(final.clean.values)
            code = values.pop("household_code")
            household_id = household_ids.get(code)
            if household_id is None or (self.full and code not in self.batch_keys["household"]):
                self._quarantine_final(
                    "resident",
                    key,
                    final,
                    RecordInvalid(
                        "unknown_household",
                        "世帯番号に該当する世帯がありません(世帯情報を先に連携してください)。",
                    ),
                )
                continue
            values["household_id"] = household_id
            # SPEC §5 / DOMAIN: My Numbers are stored only encrypted, bound to the resident code.
            values["my_number_encrypted"] = my_number_encrypt(values.pop("my_number"), resident_code=key)
            values["synced_at"] = self.stamp
            rows.append((key, final, values))
            if not self.full:
                self.touched_codes.add(key)
        self._write("resident", rows)
        self.delta_deletes["resident"] += [(final.line, key) for key, final in self._valid(finals, "delete")]
        if not self.full:
            self.touched_codes.update(key for _, key in self.delta_deletes["resident"])

    def _child_rows(self, entity: str, finals: dict[str, _Final]) -> list[tuple[str, _Final, dict[str, Any]]]:
        """Valid upserts of a child entity with their resident resolved; unknown residents quarantined."""
        valid = [(key, final) for key, final in self._valid(finals) if final.clean]
        resident_ids = self._resident_ids({f.clean.resident_code for _, f in valid if f.clean})
        rows = []
        for key, final in valid:
            assert final.clean is not None
            code = final.clean.resident_code
            resident_id = resident_ids.get(code)
            if resident_id is None or (self.full and code not in self.batch_keys["resident"]):
                self._quarantine_final(
                    entity,
                    key,
                    final,
                    RecordInvalid(
                        "unknown_resident",
                        "住民番号に該当する住民がいません(住民情報を先に連携してください)。",
                    ),
                )
                continue
            values = final.clean.values  # built for this row alone by the validator
            values["resident_id"] = resident_id
            values["synced_at"] = self.stamp
            rows.append((key, final, values))
            if not self.full:
                self.touched_codes.add(code)
        return rows

    def _child_deletes(self, entity: str, finals: dict[str, _Final]) -> None:
        # Children have no dependents: deleting them before the upserts avoids clashes (one active seal).
        keys = {key for key, _ in self._valid(finals, "delete")}
        ids = self._ids_for_keys(entity, keys)
        if entity in ("seal_registration", "card_link") and ids and not self.full:
            model = _MODELS[entity]
            self.touched_codes.update(
                model._default_manager.filter(pk__in=list(ids.values())).values_list(
                    "resident__resident_code", flat=True
                )
            )
        elif not self.full:
            self.touched_codes.update(key.split(":", 1)[0] for key in keys)
        self._delete_ids(_MODELS[entity], list(ids.values()))
        self._applied(entity, keys)

    def _apply_seal_registration(self, finals: dict[str, _Final]) -> None:
        self._child_deletes("seal_registration", finals)
        rows = self._child_rows("seal_registration", finals)
        # One active registration per person (印鑑登録は一人一印): check against the batch and the mirror.
        active: dict[int, list[tuple[str, _Final, dict[str, Any]]]] = defaultdict(list)
        for row in rows:
            if row[2]["status"] == SealRegistration.Status.ACTIVE:
                active[row[2]["resident_id"]].append(row)
        in_batch = set(finals)
        mirror_active: set[int] = set()
        for chunk in _chunks(sorted(active), _QUERY_CHUNK):
            for resident_id, number in SealRegistration.objects.filter(
                resident_id__in=chunk, status=SealRegistration.Status.ACTIVE
            ).values_list("resident_id", "registration_number"):
                if number not in in_batch:
                    mirror_active.add(resident_id)
        refused: set[str] = set()
        for resident_id, group in active.items():
            if len(group) > 1 or resident_id in mirror_active:
                for key, final, _ in group:
                    refused.add(key)
                    self._quarantine_final(
                        "seal_registration",
                        key,
                        final,
                        RecordInvalid(
                            "second_active_seal",
                            "同じ住民に登録中の印鑑登録が複数あります(一人一印)。旧登録の廃止を先に連携してください。",
                        ),
                    )
        rows = [row for row in rows if row[0] not in refused]
        # Abolitions first, so a registration replacing an abolished one never clashes with it.
        self._write(
            "seal_registration", [r for r in rows if r[2]["status"] != SealRegistration.Status.ACTIVE]
        )
        self._write(
            "seal_registration", [r for r in rows if r[2]["status"] == SealRegistration.Status.ACTIVE]
        )

    def _apply_tax_assessment(self, finals: dict[str, _Final]) -> None:
        self._child_deletes("tax_assessment", finals)
        self._write("tax_assessment", self._child_rows("tax_assessment", finals))

    def _apply_tax_payment(self, finals: dict[str, _Final]) -> None:
        self._child_deletes("tax_payment", finals)
        self._write("tax_payment", self._child_rows("tax_payment", finals))

    def _apply_card_link(self, finals: dict[str, _Final]) -> None:
        self._child_deletes("card_link", finals)
        self._write("card_link", self._child_rows("card_link", finals))

    def _final_deletes(self) -> None:
        """Residents, then households: deletes run children first (SPEC §5 order)."""
        resident_keys = {key for _, key in self.delta_deletes["resident"]}
        resident_ids = self._ids_for_keys("resident", resident_keys)
        self._residents_delete(list(resident_ids.values()) + self.full_stale["resident"])
        self._applied("resident", resident_keys)

        deletes = self.delta_deletes["household"]
        household_ids = self._ids_for_keys("household", {key for _, key in deletes})
        candidates = set(household_ids.values()) | set(self.full_stale["household"])
        occupied: set[int] = set()
        for chunk in _chunks(sorted(candidates), _QUERY_CHUNK):
            occupied.update(
                Resident.objects.filter(household_id__in=chunk).values_list("household_id", flat=True)
            )
        for line, key in deletes:
            if household_ids.get(key) in occupied:
                self._quarantine(
                    line=line,
                    op="delete",
                    entity="household",
                    key=key,
                    error=RecordInvalid(
                        "household_has_members",
                        "世帯員が残っているため世帯を削除できません。世帯員の異動を先に連携してください。",
                    ),
                    record={"op": "delete", "entity": "household", "key": key},
                )
        # A full batch's stale household still holding a (quarantined, kept) member stays until it is empty.
        self._delete_ids(Household, sorted(candidates - occupied))
        self._applied("household", (key for _, key in deletes if household_ids.get(key) not in occupied))

    # -- book-keeping ----------------------------------------------------------------------------

    def quarantine_store(self, *, actor: Actor) -> None:
        """QuarantinedRecord, ResidentBlock and one audit event per quarantined record (SPEC §5, §6)."""
        if not self.quarantined:
            return
        for item in self.quarantined:
            if item.entity == "household" and item.key:
                item.resident_codes.update(
                    Resident.objects.filter(household__household_code=item.key).values_list(
                        "resident_code", flat=True
                    )
                )
            if item.entity == "resident":
                # A resident record concerns the household it names and the one the person is in now:
                # printing either household's 住民票 without the change (a newborn, a move-in) would
                # certify an incomplete household, so all of their members wait for a valid record.
                households = Q(household__members__resident_code__in=item.resident_codes)
                if item.household_code:
                    households |= Q(household__household_code=item.household_code)
                item.resident_codes.update(
                    Resident.objects.filter(households).values_list("resident_code", flat=True).distinct()
                )
            if not item.resident_codes and item.key and item.entity in ("seal_registration", "card_link"):
                ids = self._ids_for_keys(item.entity, {item.key})
                if ids:
                    item.resident_codes.update(
                        _MODELS[item.entity]
                        ._default_manager.filter(pk__in=list(ids.values()))
                        .values_list("resident__resident_code", flat=True)
                    )
        all_codes = set().union(*(item.resident_codes for item in self.quarantined))
        resident_ids = self._ids_by_code(Resident, "resident_code", all_codes)
        records = QuarantinedRecord.objects.bulk_create(
            [
                QuarantinedRecord(
                    batch=self.batch,
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
                for item in self.quarantined
            ]
        )
        ResidentBlock.objects.bulk_create(
            [
                ResidentBlock(resident_code=code, quarantined_record=record)
                for record, item in zip(records, self.quarantined, strict=True)
                for code in sorted(item.resident_codes)
            ]
        )
        for item in self.quarantined:
            audit_record(
                actor=actor,
                action="sync.record_quarantined",
                outcome=AuditEvent.Outcome.REFUSED,
                reason=item.error.reason_code,
                resident_ids=[resident_ids[c] for c in item.resident_codes if c in resident_ids],
                payload={
                    "batch": self.batch.number,
                    "line": item.line,
                    "entity": item.entity,
                    "reason_code": item.error.reason_code,
                },
            )

    def resolve(self) -> int:
        """A valid record for a quarantined (entity, key) resolves it and releases its blocks."""
        resolved_ids: list[int] = []
        for entity, keys in self.resolved.items():
            for chunk in _chunks(sorted(keys), _QUERY_CHUNK):
                resolved_ids.extend(
                    QuarantinedRecord.objects.filter(
                        entity=entity, key__in=chunk, key_digest="", resolved_at__isnull=True
                    ).values_list("pk", flat=True)
                )
        for entity, digests in self.resolved_digests.items():
            for chunk in _chunks(sorted(digests), _QUERY_CHUNK):
                resolved_ids.extend(
                    QuarantinedRecord.objects.filter(
                        entity=entity, key_digest__in=chunk, resolved_at__isnull=True
                    ).values_list("pk", flat=True)
                )
        for chunk in _chunks(resolved_ids, _QUERY_CHUNK):
            QuarantinedRecord.objects.filter(pk__in=chunk).update(
                resolved_at=self.stamp, resolved_by=self.batch
            )
            ResidentBlock.objects.filter(quarantined_record_id__in=chunk, released_at__isnull=True).update(
                released_at=self.stamp
            )
        return len(resolved_ids)


def _record_data(clean: Clean) -> dict[str, Any]:
    # The My Number stays in for _quarantine to replace by its marker: the clerk sees it was there.
    data = {k: v for k, v in clean.values.items() if k != "seal_image_png"}
    if clean.resident_code:
        data["resident_code"] = clean.resident_code
    return data


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str)) if value is not None else None


def _upsert(
    model: type[Model], rows: list[dict[str, Any]], conflict: tuple[str, ...], *, postgres: bool, direct: bool
) -> None:
    """Insert or update rows by natural key, keeping internal ids stable (the audit log uses them)."""
    if not rows:
        return
    columns = list(rows[0])
    updates = [c for c in columns if c not in conflict]
    if not postgres:
        # SQLite (development): Django's bulk upsert; correctness, not speed.
        model._default_manager.bulk_create(
            [model(**row) for row in rows],
            update_conflicts=True,
            unique_fields=[model._meta.get_field(c).name for c in conflict],
            update_fields=[model._meta.get_field(c).name for c in updates],
        )
        return
    # PostgreSQL: COPY into a temporary staging table, then one INSERT ... ON CONFLICT DO UPDATE.
    # Measured in bench/sync_load.py against bulk_create; COPY is several times faster.
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    stage = qn(f"sync_stage_{model._meta.db_table}")
    cols = ", ".join(qn(c) for c in columns)
    json_columns = [
        i for i, c in enumerate(columns) if model._meta.get_field(c).get_internal_type() == "JSONField"
    ]
    types = column_types(model._meta.db_table, columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if direct:
            # The table was empty when this group started and the group's keys are distinct: a plain
            # COPY is the whole upsert (the initial load).
            _copy_rows(raw, table, cols, rows, json_columns, types)
            return
        # Identifiers come from the model's meta, never from the feed.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP "  # noqa: S608
            f"AS SELECT {cols} FROM {table} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {stage}")
        _copy_rows(raw, stage, cols, rows, json_columns, types)
        assignments = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in updates)
        cursor.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} "  # noqa: S608 - identifiers from model meta
            f"ON CONFLICT ({', '.join(qn(c) for c in conflict)}) DO UPDATE SET {assignments}"
        )


def _copy_rows(
    raw: Any, table: str, cols: str, rows: list[dict[str, Any]], json_columns: list[int], types: list[int]
) -> None:
    """COPY in PostgreSQL's binary format: psycopg then converts each value by the column's known type
    instead of finding an adapter and quoting text, several times cheaper per row. A row PostgreSQL
    refuses raises Django's IntegrityError or DataError (the raw cursor's errors are translated), so
    that the caller's bisection finds and quarantines it."""
    if json_columns:
        set_json_dumps(json_dumps_fast, context=raw)
    with (
        connection.wrap_database_errors,
        raw.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row(tuple(row.values()))


def _initial_load_speedups(manifest: Manifest) -> contextlib.AbstractContextManager[None]:
    """A full batch into an empty mirror (the initial load) checks its foreign keys once, at the end,
    when the connection may alter the mirror's tables (``tables_owned``: the owner, not the app)."""
    models = list(_MODELS.values())
    if (
        manifest.kind == Batch.Kind.FULL
        and connection.vendor == "postgresql"
        and not any(model._default_manager.exists() for model in models)
        and tables_owned(models)
    ):
        return foreign_keys_checked_once(models)
    return contextlib.nullcontext()


def _batch_apply(
    *,
    entry: InboxEntry,
    batch_file: BatchFile,
    actor: Actor,
    stamp: datetime,
    now: datetime | None,
) -> Batch:
    """Apply a batch in the caller's transaction and record its outcome and audit events.

    The checksum and the record count are checked while the file is read (``BatchFile``): the
    values recorded here are the manifest's, and the caller's transaction is undone unless the
    bytes applied matched them."""
    assert entry.jsonl is not None
    manifest = batch_file.manifest
    sha, records = manifest.sha256, manifest.records
    batch = Batch.objects.create(
        number=manifest.number,
        kind=manifest.kind,
        status=Batch.Status.APPLIED,
        records_declared=manifest.records,
        sha256=sha,
        manifest_created_at=manifest.created_at,
        received_at=stamp,
        finished_at=stamp,
    )
    applier = _BatchApplier(batch_file=batch_file, batch=batch, stamp=stamp)
    try:
        with transaction.atomic(), garbage_collector_paused(), _initial_load_speedups(manifest):
            applier.apply_stream()
    except (_OutOfOrder, CopyStreamFailed):
        # Undone by the savepoint; the slower path groups the lines by entity first, and writes in
        # chunks, each in a savepoint of its own, so that a row the database refuses is quarantined.
        scan = batch_scan(batch=batch_file)
        applier = _BatchApplier(batch_file=batch_file, batch=batch, stamp=stamp)
        applier.apply_scanned(scan)
    batch_file.require_checked()
    applier.quarantine_store(actor=actor)
    resolved = applier.resolve()
    batch.records_quarantined = len(applier.quarantined)
    batch.records_applied = records - batch.records_quarantined
    batch.finished_at = _now(now)
    batch.save(update_fields=["records_quarantined", "records_applied", "finished_at"])
    touched = (
        applier._ids_by_code(Resident, "resident_code", applier.touched_codes) if not applier.full else {}
    )
    audit_record(
        actor=actor,
        action="sync.batch_applied",
        resident_ids=touched.values(),
        payload={
            "batch": batch.number,
            "kind": batch.kind,
            "records": records,
            "applied": batch.records_applied,
            "quarantined": batch.records_quarantined,
            "resolved": resolved,
        },
    )
    logger.info(
        "sync batch %010d applied: %d records, %d quarantined",
        batch.number,
        records,
        batch.records_quarantined,
    )
    return batch
