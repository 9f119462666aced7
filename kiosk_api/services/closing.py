"""Closing what a kiosk holds: an issuance printed or voided, its stored document dropped.

The issuance's state is certificates/lifecycle.py's; this module moves it for the kiosk (its own
reports, the end or expiry of its session) and drops the stored document whenever it moves, whoever
moved it (``document_discard`` listens to ``issuance_closed``).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from certificates.lifecycle import (
    IssuanceStateError,
    issuance_mark_printed,
    issuance_void,
)
from certificates.models import IssuanceRecord
from kiosk_api.models import KioskIssuance, StoredDocument
from kiosk_api.services.context import CallContext

ISSUED = IssuanceRecord.Status.ISSUED


def unprinted(**kiosk_filter: Any) -> Any:
    """The kiosk issuances (filtered by ``kiosk_filter``) whose issuance still waits for its print."""
    return KioskIssuance.objects.filter(
        issuance_record_id__in=IssuanceRecord.objects.filter(status=ISSUED).values("pk"), **kiosk_filter
    )


def issuance_close(*, record: KioskIssuance, ctx: CallContext, printed: bool, void_reason: str = "") -> bool:
    """Inside the caller's transaction: move the issuance to printed or voided (the document goes
    with it, see ``document_discard``). False when it was no longer waiting for its print."""
    assert record.issuance_record_id is not None
    # The move's one audit event (certificate.printed / .voided) names the kiosk's request too.
    door_payload = {"kiosk_issuance": record.pk}
    try:
        if printed:
            issuance_mark_printed(
                issuance_id=record.issuance_record_id, actor=ctx.actor, audit_payload=door_payload
            )
        else:
            issuance_void(
                issuance_id=record.issuance_record_id,
                reason=void_reason,
                actor=ctx.actor,
                printed_too=False,
                audit_payload=door_payload,
            )
    except IssuanceStateError:
        return False
    return True


def document_discard(*, issuance_id: int, **_: Any) -> None:
    """``issuance_closed`` receiver: the issuance was printed or voided (by anyone, a clerk in the
    admin too), so its stored document goes, in the same transaction."""
    StoredDocument.objects.filter(issuance__issuance_record_id=issuance_id).delete()


def session_abandon(*, session_id: uuid.UUID, ctx: CallContext, reason: str) -> int:
    """Void every issuance of the session still waiting for its print (its document goes with it)."""
    abandoned = 0
    for record in unprinted(session_id=session_id):
        with transaction.atomic(savepoint=False):
            if issuance_close(record=record, ctx=ctx, printed=False, void_reason=reason):
                abandoned += 1
    return abandoned
