"""The one state of an issuance and its moves (SPEC §3 steps 4–5, §8).

An issuance is ``issued`` (printable, its document waiting at the kiosk), then ``printed`` (the fee is
due) or ``voided`` (no fee; /verify/ answers 無効). A printed issuance can still be voided by a clerk.
``IssuanceRecord.status`` is the only place this state is kept: the kiosk's request row points at the
record and reads its state from there, so a clerk's void and the kiosk can never disagree.

Every move happens with the record locked, and sends ``issuance_closed`` inside the same transaction,
so that whoever keeps a copy of the document (the kiosk API's encrypted store) drops it atomically with
the move: a voided document can never be fetched again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from audit.services import Actor, audit_record
from certificates.models import IssuanceRecord, IssuedCertificateNumber
from staff.roles import VOID_PERMISSION, actor_permission_require

# A reason written by the system (lowercase code), not by a clerk.
_REASON_CODE = re.compile(r"[a-z_]{1,64}")

# The kiosk's own report of a failed print: the one void that the kiosk itself asked for.
PRINT_FAILED = "print_failed"

# Sent with ``issuance_id`` and ``status`` when an issuance leaves ``issued`` (printed or voided),
# or when a printed one is voided; inside the transaction that moves it.
issuance_closed = Signal()


class IssuanceStateError(Exception):
    """The issuance is not in a state that allows the requested change (e.g. printing a voided one)."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


_RECORDS = IssuanceRecord._meta.db_table
_NUMBERS = IssuedCertificateNumber._meta.db_table
# One move in one statement on PostgreSQL: the condition is the edge of the state machine, so of two
# concurrent moves of one issuance exactly one matches (the second waits for the row and re-checks
# it); the persons and numbers its audit event names come back with it.
_MOVE_SQL = (
    f"UPDATE {_RECORDS} SET status = %s, completed_at = COALESCE(completed_at, %s){{more}}"  # noqa: S608
    " WHERE id = %s AND status = ANY(%s) RETURNING printed_resident_ids, ARRAY("
    f"SELECT number FROM {_NUMBERS} n WHERE n.issuance_id = {_RECORDS}.id ORDER BY copy_index)"
)
_PRINT_SQL = _MOVE_SQL.format(more="")
_VOID_SQL = _MOVE_SQL.format(more=", void_reason = %s, voided_at = %s, voided_by = %s")


def _move(issuance_id: int, *, to: str, sources: tuple[str, ...], more: tuple[Any, ...] = ()) -> Moved | None:
    """Move the issuance to ``to`` if it is in one of ``sources``; None when it was not."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            sql = _VOID_SQL if more else _PRINT_SQL
            cursor.execute(sql, [to, now, *more, issuance_id, list(sources)])
            row = cursor.fetchone()
        if row is None:
            return None
        persons = json.loads(row[0]) if isinstance(row[0], str) else row[0]
        return Moved(issuance_id=issuance_id, status=to, persons=persons, numbers=list(row[1]))
    # Elsewhere (SQLite, the fresh-clone demo): the same move through the ORM, the row locked.
    with transaction.atomic(savepoint=False):
        issuance = IssuanceRecord.objects.select_for_update().get(pk=issuance_id)
        if issuance.status not in sources:
            return None
        fields = dict(zip(("void_reason", "voided_at", "voided_by"), more, strict=False))
        IssuanceRecord.objects.filter(pk=issuance_id).update(
            status=to, completed_at=issuance.completed_at or now, **fields
        )
        numbers = list(issuance.numbers.order_by("copy_index").values_list("number", flat=True))
    return Moved(issuance_id=issuance_id, status=to, persons=issuance.printed_resident_ids, numbers=numbers)


@dataclass(frozen=True)
class Moved:
    issuance_id: int
    status: str
    persons: list[int]
    numbers: list[str]


def _status(issuance_id: int) -> str:
    return str(IssuanceRecord.objects.values_list("status", flat=True).get(pk=issuance_id))


def issuance_mark_printed(
    *, issuance_id: int, actor: Actor, audit_payload: Mapping[str, Any] | None = None
) -> str:
    """The kiosk printed the copies: the fee is due. Repeating it changes nothing; a voided issuance
    raises ``IssuanceStateError``. Returns the status (printed).
    ``audit_payload``: what the caller adds to the one event of the move (the kiosk's request)."""
    # No savepoint inside a caller's transaction (two round trips on every kiosk completion).
    with transaction.atomic(savepoint=False):
        moved = _move(issuance_id, to=IssuanceRecord.Status.PRINTED, sources=(IssuanceRecord.Status.ISSUED,))
        if moved is not None:
            _closed(moved, action="certificate.printed", actor=actor, extra=audit_payload)
            return moved.status
    status = _status(issuance_id)
    if status != IssuanceRecord.Status.PRINTED:
        raise IssuanceStateError("取り消された交付は印刷完了にできません。", status=status)
    return status


def issuance_void(
    *,
    issuance_id: int,
    reason: str,
    actor: Actor,
    printed_too: bool = True,
    audit_payload: Mapping[str, Any] | None = None,
) -> str:
    """Void an issuance (print failed, session abandoned, or a clerk's decision): no fee is due and
    /verify/ answers 無効 for its numbers. Voiding a voided issuance changes nothing. With
    ``printed_too=False`` (the kiosk's own reports) a printed issuance stays printed and
    ``IssuanceStateError`` is raised. The reason goes to the audit event only when it is one of the
    system's codes (``print_failed``, ``session_expired``...): a clerk's free text may name people.
    Returns the status (voided).

    A staff actor needs the void permission (係長); a kiosk terminal voids its own issuances (the
    kiosk API checks that the issuance is the terminal's). Otherwise ``PermissionDenied``, audited."""
    actor_permission_require(
        actor=actor, permission=VOID_PERMISSION, action="certificate.voided", terminals=True
    )
    reason = reason.strip()
    if not reason:
        raise ValueError("取消理由を入力してください。")
    sources = (IssuanceRecord.Status.ISSUED, *((IssuanceRecord.Status.PRINTED,) if printed_too else ()))
    with transaction.atomic(savepoint=False):  # as issuance_mark_printed
        moved = _move(
            issuance_id,
            to=IssuanceRecord.Status.VOIDED,
            sources=sources,
            more=(reason[:200], timezone.now(), actor.label[:200]),
        )
        if moved is not None:
            _closed(
                moved,
                action="certificate.voided",
                actor=actor,
                extra=audit_payload,
                reason=reason if _REASON_CODE.fullmatch(reason) else "",
            )
            return moved.status
    status = _status(issuance_id)
    if status != IssuanceRecord.Status.VOIDED:
        raise IssuanceStateError("印刷が完了した交付です。", status=status)
    return status


def voided_by_print_failure(issuance: IssuanceRecord) -> bool:
    """Whether the issuance was voided because its kiosk reported the print failed (and not by a
    clerk, the end of its session or a failed check): the kiosk may repeat that report."""
    return issuance.status == IssuanceRecord.Status.VOIDED and issuance.void_reason == PRINT_FAILED


def _closed(
    moved: Moved,
    *,
    action: str,
    actor: Actor,
    extra: Mapping[str, Any] | None,
    reason: str = "",
) -> None:
    audit_record(
        actor=actor,
        action=action,
        reason=reason,
        resident_ids=moved.persons,
        certificate_numbers=moved.numbers,
        payload={**(extra or {}), "issuance_id": moved.issuance_id},
    )
    issuance_closed.send(sender=IssuanceRecord, issuance_id=moved.issuance_id, status=moved.status)
