"""Issuance through the kiosk (SPEC §3 steps 3–5): issue once per Idempotency-Key, fetch, complete.

Every outcome is audited with its true reason, in the same transaction as the act it records;
refusals are recorded first and raised afterwards, so the record survives the refusal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from certificates.errors import CertificateRefused
from certificates.lifecycle import (
    PRINT_FAILED,
    issuance_void,
    voided_by_print_failure,
)
from certificates.models import IssuanceRecord
from certificates.options import IssueRequest, OptionsInvalid, issue_request_from_options
from certificates.services import certificate_issue
from kiosk_api.document_store import document_decrypt, document_encrypt
from kiosk_api.errors import KioskError
from kiosk_api.models import KioskIssuance, KioskSession, StoredDocument
from kiosk_api.queries import (
    ISSUANCE_BY_KEY_SQL,
    ISSUANCE_FOR_TERMINAL_SQL,
    ISSUANCES,
    card_link_with_holder,
    issuance_claim,
)
from kiosk_api.services.closing import ISSUED, issuance_close
from kiosk_api.services.context import REFUSED, CallContext, kiosk_audit, session_ref
from kiosk_api.services.sessions import session_allowed_subjects, session_authenticated
from saga_konbini.metrics import issuance_observed


def _fingerprint(*, session_id: str, request: IssueRequest) -> str:
    canonical = json.dumps(
        {"session": session_id, **dataclasses.asdict(request)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _issue_request(*, session: KioskSession, cert_type: str, copies: int, options: object) -> IssueRequest:
    """The request, checked once (certificates/options.py); a malformed one is INVALID_REQUEST."""
    try:
        return issue_request_from_options(
            cert_type=cert_type, copies=copies, options=options, member_ids=session.member_refs
        )
    except OptionsInvalid as exc:
        # An unknown member reference names the member list; anything else, the option at fault.
        fields: dict[str, Any] = {"options": exc.fields}
        if exc.reason == "unknown_member_ref":
            fields = {"options.members": exc.fields["members"]}
        elif "options" in exc.fields:  # not an object at all
            fields = exc.fields
        raise KioskError("INVALID_REQUEST", reason=exc.reason, fields=fields) from None


def _replay(*, existing: KioskIssuance, fingerprint: str) -> KioskIssuance:
    if existing.request_fingerprint != fingerprint:
        raise KioskError("IDEMPOTENCY_KEY_REUSED", reason="idempotency_key_reused")
    if existing.refusal_code:
        raise KioskError(existing.refusal_code, reason="replayed_refusal")
    return existing


def issuance_create(
    *,
    ctx: CallContext,
    session_id: str,
    idempotency_key: str,
    cert_type: str,
    copies: int,
    options: object,
) -> KioskIssuance:
    """Issue a certificate for the session's holder (SPEC §3 step 3), exactly once per key.

    The idempotency row is inserted first, inside the issuance's transaction: a second request
    with the same key blocks on the unique index until the first commits, then inserts nothing
    and answers with the first one's result. Refusals are kept too, so a retry gets the same answer.
    """
    started = time.perf_counter()
    outcome = "failed"
    try:
        record, outcome = _issuance_create(
            ctx=ctx,
            session_id=session_id,
            idempotency_key=idempotency_key,
            cert_type=cert_type,
            copies=copies,
            options=options,
        )
    except KioskError as exc:
        outcome = "refused" if exc.status < 500 else "failed"
        raise
    finally:
        # Every attempt that reached the issuing code, whatever became of it (/metrics).
        issuance_observed(cert_type, outcome, time.perf_counter() - started)
    return record


def _issuance_create(
    *,
    ctx: CallContext,
    session_id: str,
    idempotency_key: str,
    cert_type: str,
    copies: int,
    options: object,
) -> tuple[KioskIssuance, str]:
    session = session_authenticated(ctx=ctx, session_id=session_id)
    request = _issue_request(session=session, cert_type=cert_type, copies=copies, options=options)
    fingerprint = _fingerprint(session_id=str(session.id), request=request)
    with transaction.atomic(savepoint=False):
        record = issuance_claim(
            ctx=ctx, session=session, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        if record is None:
            # A retry, or an identical request that won the race: answer with its result.
            existing = ISSUANCES.one(ISSUANCE_BY_KEY_SQL, [ctx.terminal.pk, idempotency_key])
            assert existing is not None  # rows are never deleted
            return _replay(existing=existing, fingerprint=fingerprint), "replayed"
        allowed = session_allowed_subjects(session)
        refusal = _issuance_perform(ctx=ctx, session=session, record=record, request=request, allowed=allowed)
    if refusal is not None:
        raise refusal
    return record, "issued"


def _issuance_perform(
    *,
    ctx: CallContext,
    session: KioskSession,
    record: KioskIssuance,
    request: IssueRequest,
    allowed: set[int],
) -> KioskError | None:
    """Inside the caller's transaction: issue, check the subjects, store the PDF encrypted."""
    assert session.resident_id is not None and session.card_link_id is not None
    link = card_link_with_holder(
        "{table}.id = %s AND {table}.resident_id = %s", [session.card_link_id, session.resident_id]
    )
    holder = link.resident if link is not None else None
    door_payload = {"session": session_ref(session), "kiosk_issuance": record.pk}
    refusal: KioskError | None = None
    if holder is None or link is None:
        # The mirror changed under the session (a full reload without this person or card).
        refusal = KioskError("NOT_AVAILABLE_AT_KIOSK", reason="holder_or_card_gone")
    else:
        try:
            issued = certificate_issue(
                holder=holder,
                request=request,
                actor=ctx.actor,
                terminal_label=str(ctx.terminal),
                now=ctx.now,
                card_link=link,
                source=ctx.source,
                request_id=ctx.request_id,
                audit_payload=door_payload,
            )
        except CertificateRefused as exc:
            # Audited by certificate_issue, with this request's session and id.
            record.refusal_code = exc.code
            record.save(update_fields=["refusal_code"])
            return KioskError(exc.code, reason=exc.reason)
    if refusal is not None:
        record.refusal_code = refusal.code
        record.save(update_fields=["refusal_code"])
        kiosk_audit(
            ctx,
            "kiosk.issuance_refused",
            outcome=REFUSED,
            reason=refusal.reason,
            resident_ids=[session.resident_id] if session.resident_id else [],
            payload={
                "session": session_ref(session),
                "kiosk_issuance": record.pk,
                "type": request.cert_type,
            },
        )
        return refusal
    subjects = {int(pk) for pk in issued.issuance.printed_resident_ids}
    assert holder is not None
    expected_subjects = allowed if request.cert_type == "juminhyo" else {holder.pk}
    if not subjects or not subjects <= expected_subjects:
        # certificate_issue checked the finished PDF already; this is the door's own, independent
        # check against what this session was shown. The PDF is dropped, the issuance voided.
        issuance_void(issuance_id=issued.issuance.pk, reason="subject_mismatch", actor=ctx.actor)
        record.refusal_code = "NOT_AVAILABLE_AT_KIOSK"
        record.save(update_fields=["refusal_code"])
        kiosk_audit(
            ctx,
            "kiosk.issuance_refused",
            outcome=REFUSED,
            reason="subject_mismatch",
            resident_ids=subjects | {holder.pk},
            certificate_numbers=issued.certificate_numbers,
            payload={
                "session": session_ref(session),
                "kiosk_issuance": record.pk,
                "type": request.cert_type,
            },
        )
        return KioskError("NOT_AVAILABLE_AT_KIOSK", reason="subject_mismatch")
    record.issuance_record_id = issued.issuance.pk
    record.certificate_numbers = list(issued.certificate_numbers)
    record.fee_total = issued.fee_total
    record.sha256 = issued.sha256
    record.subject_resident_ids = sorted(subjects)
    record.save(
        update_fields=[
            "issuance_record_id",
            "certificate_numbers",
            "fee_total",
            "sha256",
            "subject_resident_ids",
        ]
    )
    key_id, blob = document_encrypt(issued.pdf, issuance_id=record.pk, sha256=issued.sha256)
    StoredDocument.objects.create(issuance=record, key_id=key_id, ciphertext=blob, stored_at=ctx.now)
    return None


def _issuance_pk(issuance_id: int | str) -> int:
    """The id from the URL, or SESSION_NOT_FOUND: no such row (also out of the column's range)."""
    try:
        pk = int(issuance_id)
    except (TypeError, ValueError):
        pk = 0
    if not 0 < pk < 2**63:
        raise KioskError("SESSION_NOT_FOUND", reason="issuance_not_found")
    return pk


@dataclass(frozen=True)
class HeldIssuance:
    """A kiosk's issued request as the kiosk sees it: its issuance's one state and its document."""

    request: KioskIssuance
    state: IssuanceRecord  # status and void_reason only
    document: tuple[str, bytes] | None  # (key id, ciphertext) while it waits for its print


def _issuance_for_terminal(*, ctx: CallContext, issuance_id: int | str) -> HeldIssuance:
    """The terminal's issuance, or SESSION_NOT_FOUND (another terminal's, refused, or none)."""
    pk = _issuance_pk(issuance_id)
    found = ISSUANCES.one_and_rest(ISSUANCE_FOR_TERMINAL_SQL, [pk, ctx.terminal.pk])
    if found is None:
        raise KioskError("SESSION_NOT_FOUND", reason="issuance_not_found")
    record, (status, void_reason, key_id, ciphertext) = found
    state = IssuanceRecord(pk=record.issuance_record_id, status=status, void_reason=void_reason)
    document = None if key_id is None else (str(key_id), bytes(ciphertext))
    return HeldIssuance(request=record, state=state, document=document)


def issuance_require(*, ctx: CallContext, issuance_id: int | str) -> None:
    """Raise SESSION_NOT_FOUND unless the issuance exists and belongs to this terminal."""
    _issuance_for_terminal(ctx=ctx, issuance_id=issuance_id)


def document_fetch(*, ctx: CallContext, issuance_id: int | str) -> tuple[KioskIssuance, bytes]:
    """The PDF of an issuance still waiting for its print (SPEC §3 step 4), after the subject check.
    Printed or voided (by the kiosk, the session's end or a clerk): DOCUMENT_GONE."""
    held = _issuance_for_terminal(ctx=ctx, issuance_id=issuance_id)
    record = held.request
    session = session_authenticated(ctx=ctx, session_id=str(record.session_id))
    if held.state.status != ISSUED or held.document is None:
        kiosk_audit(
            ctx,
            "kiosk.document_fetched",
            outcome=REFUSED,
            reason="document_gone",
            certificate_numbers=record.certificate_numbers,
            payload={"kiosk_issuance": record.pk},
        )
        raise KioskError("DOCUMENT_GONE", reason="document_gone")
    subjects = {int(pk) for pk in record.subject_resident_ids}
    expected = session_allowed_subjects(session)
    if not subjects or not subjects <= expected:
        with transaction.atomic(savepoint=False):
            issuance_close(record=record, ctx=ctx, printed=False, void_reason="subject_mismatch")
            kiosk_audit(
                ctx,
                "kiosk.document_fetched",
                outcome=REFUSED,
                reason="subject_mismatch",
                resident_ids=subjects,
                certificate_numbers=record.certificate_numbers,
                payload={"kiosk_issuance": record.pk},
            )
        raise KioskError("NOT_AVAILABLE_AT_KIOSK", reason="subject_mismatch")
    key_id, ciphertext = held.document
    pdf = document_decrypt(ciphertext, key_id=key_id, issuance_id=record.pk, sha256=record.sha256)
    if hashlib.sha256(pdf).hexdigest() != record.sha256:
        raise KioskError("DOCUMENT_GONE", reason="document_digest_mismatch")
    kiosk_audit(
        ctx,
        "kiosk.document_fetched",
        resident_ids=subjects,
        certificate_numbers=record.certificate_numbers,
        payload={"kiosk_issuance": record.pk},
    )
    return record, pdf


def _already_completed() -> KioskError:
    return KioskError(
        "INVALID_REQUEST",
        reason="issuance_already_completed",
        message=gettext("この証明書の交付はすでに完了しています。"),
    )


def issuance_complete(*, ctx: CallContext, issuance_id: int | str, outcome: str) -> str:
    """The kiosk's print outcome (SPEC §3 step 5): printed, or failed (voided, no fee). Returns the
    issuance's status. Voided by anyone but the kiosk's own failed report: ISSUANCE_VOIDED."""
    printed = outcome == "printed"
    held = _issuance_for_terminal(ctx=ctx, issuance_id=issuance_id)
    session_authenticated(ctx=ctx, session_id=str(held.request.session_id))
    state = held.state
    if state.status == ISSUED:
        with transaction.atomic(savepoint=False):
            if issuance_close(
                record=held.request, ctx=ctx, printed=printed, void_reason="" if printed else PRINT_FAILED
            ):
                return "printed" if printed else "voided"
        # Moved meanwhile by another process (a clerk's void, the sweep): answer by its state now.
        state = IssuanceRecord.objects.only("status", "void_reason").get(pk=state.pk)
    if state.status == IssuanceRecord.Status.VOIDED and not voided_by_print_failure(state):
        raise KioskError("ISSUANCE_VOIDED", reason="issuance_voided")
    if state.status != (IssuanceRecord.Status.PRINTED if printed else IssuanceRecord.Status.VOIDED):
        raise _already_completed()
    return str(state.status)  # a repeated report of the same outcome changes nothing
