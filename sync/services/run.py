"""Running the core-system feed into the mirror, batch after batch (SPEC §5).

``sync_run`` is the one door: the Celery beat task and ``manage.py sync_run`` both call it. It works
in steps, each one database transaction that holds the SyncCursor row lock, so two workers never act
on the line at the same time and a batch is applied at most once. Files move only after the step's
transaction has committed; a crash in between leaves a file whose number is already applied, and the
next run recognises it by its checksum and only moves it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from staff.roles import actor_permission_require
from sync.errors import BatchRejected, Misconfigured, RetryLater
from sync.feed import (
    ARCHIVE_DIR,
    REJECTED_DIR,
    InboxEntry,
    Manifest,
    batch_file_open,
    batch_files_move,
    file_sha256,
    inbox_path,
    inbox_scan,
    manifest_read,
)
from sync.models import Batch, SyncAlert, SyncCursor
from sync.selectors import mirror_freshness
from sync.services.apply import batch_apply

logger = logging.getLogger(__name__)

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
                batch = batch_apply(entry=entry, batch_file=batch_file, actor=actor, stamp=stamp, now=now)
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
