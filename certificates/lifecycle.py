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

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from audit.services import Actor, audit_record
from certificates.models import IssuanceRecord
from saga_konbini.roles import VOID_PERMISSION, actor_permission_require

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


def _locked(issuance_id: int) -> IssuanceRecord:
    # Locked: a concurrent void and print of the same issuance must not both win.
    return IssuanceRecord.objects.select_for_update().get(pk=issuance_id)


def issuance_mark_printed(
    *, issuance_id: int, actor: Actor, audit_payload: Mapping[str, Any] | None = None
) -> IssuanceRecord:
    """The kiosk printed the copies: the fee is due. Repeating it changes nothing; a voided issuance
    raises ``IssuanceStateError`` (after the block: a caller inside a transaction may go on).
    ``audit_payload``: what the caller adds to the one event of the move (the kiosk's request)."""
    # No savepoint inside a caller's transaction (two round trips on every kiosk completion).
    with transaction.atomic(savepoint=False):
        issuance = _locked(issuance_id)
        if issuance.status == IssuanceRecord.Status.ISSUED:
            issuance.status = IssuanceRecord.Status.PRINTED
            issuance.completed_at = timezone.now()
            issuance.save(update_fields=["status", "completed_at"])
            _closed(issuance, action="certificate.printed", actor=actor, extra=audit_payload)
    if issuance.status != IssuanceRecord.Status.PRINTED:
        raise IssuanceStateError("取り消された交付は印刷完了にできません。", status=issuance.status)
    return issuance


def issuance_void(
    *,
    issuance_id: int,
    reason: str,
    actor: Actor,
    printed_too: bool = True,
    audit_payload: Mapping[str, Any] | None = None,
) -> IssuanceRecord:
    """Void an issuance (print failed, session abandoned, or a clerk's decision): no fee is due and
    /verify/ answers 無効 for its numbers. Voiding a voided issuance changes nothing. With
    ``printed_too=False`` (the kiosk's own reports) a printed issuance stays printed and
    ``IssuanceStateError`` is raised. The reason goes to the audit event only when it is one of the
    system's codes (``print_failed``, ``session_expired``...): a clerk's free text may name people.

    A staff actor needs the void permission (係長); a kiosk terminal voids its own issuances (the
    kiosk API checks that the issuance is the terminal's). Otherwise ``PermissionDenied``, audited."""
    actor_permission_require(
        actor=actor, permission=VOID_PERMISSION, action="certificate.voided", terminals=True
    )
    reason = reason.strip()
    if not reason:
        raise ValueError("取消理由を入力してください。")
    with transaction.atomic(savepoint=False):  # as issuance_mark_printed
        issuance = _locked(issuance_id)
        if issuance.status == IssuanceRecord.Status.ISSUED or (
            printed_too and issuance.status == IssuanceRecord.Status.PRINTED
        ):
            now = timezone.now()
            issuance.status = IssuanceRecord.Status.VOIDED
            issuance.void_reason = reason[:200]
            issuance.voided_at = now
            issuance.voided_by = actor.label[:200]
            issuance.completed_at = issuance.completed_at or now
            issuance.save(update_fields=["status", "void_reason", "voided_at", "voided_by", "completed_at"])
            _closed(
                issuance,
                action="certificate.voided",
                actor=actor,
                extra=audit_payload,
                reason=reason if _REASON_CODE.fullmatch(reason) else "",
            )
    if issuance.status != IssuanceRecord.Status.VOIDED:
        raise IssuanceStateError("印刷が完了した交付です。", status=issuance.status)
    return issuance


def voided_by_print_failure(issuance: IssuanceRecord) -> bool:
    """Whether the issuance was voided because its kiosk reported the print failed (and not by a
    clerk, the end of its session or a failed check): the kiosk may repeat that report."""
    return issuance.status == IssuanceRecord.Status.VOIDED and issuance.void_reason == PRINT_FAILED


def _closed(
    issuance: IssuanceRecord,
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
        resident_ids=issuance.printed_resident_ids,
        certificate_numbers=_numbers_of(issuance),
        payload={**(extra or {}), "issuance_id": issuance.pk},
    )
    issuance_closed.send(sender=IssuanceRecord, issuance_id=issuance.pk, status=issuance.status)


def _numbers_of(issuance: IssuanceRecord) -> list[str]:
    return list(issuance.numbers.order_by("copy_index").values_list("number", flat=True))
