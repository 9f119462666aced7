"""Issuing certificates, and the clerks' acts on issuances and stops (SPEC §2, §3, §8).

``certificate_issue`` is the one door through which a certificate leaves the server. Each call
carries its own data from start to end (no shared buffer, nothing keyed by "the current" request: in
2023 such sharing printed one applicant's certificate for another), and before returning it reads
the finished PDF back and refuses unless it shows exactly the requested persons under exactly the
allocated numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from certificates import documents
from certificates.eligibility import HolderEligibility, holder_eligibility
from certificates.errors import (
    INVALID_REQUEST,
    NOT_AVAILABLE_AT_KIOSK,
    CertificateRefused,
    PayloadInvalid,
    SubjectMismatch,
)
from certificates.glyphs import UnprintableCharacterError
from certificates.models import CertType, Fee, IssuanceRecord, IssuanceStop, IssuedCertificateNumber
from certificates.numbers import certificate_numbers_allocate
from certificates.options import JUMINHYO_SCOPES, IssueRequest
from certificates.rendering import RenderCopy, read_verification_payloads, render_certificate_pdf
from certificates.signing import check_code_compute, issuing_key, payload_sign, payload_verify, pdf_sign
from certificates.signing_keys import IssuingKey
from residents.models import CardLink, Resident
from staff.roles import actor_permission_require


@dataclass(frozen=True)
class IssuedCertificate:
    issuance: IssuanceRecord
    pdf: bytes
    sha256: str
    certificate_numbers: list[str]
    fee_total: int


@dataclass(frozen=True)
class _Plan:
    """What this request will print, decided from the eligibility rows."""

    members: tuple[Resident, ...]  # the persons to print, in print order
    expected_persons: tuple[tuple[str, ...], ...]  # as the payload must show them (see _payload_person)


def _request_summary(request: IssueRequest) -> dict[str, Any]:
    """The request's options without personal data: for the issuance record and the audit payload.

    The key avoids the words "my number": the audit log rejects such keys outright.
    """
    summary: dict[str, Any] = {
        "type": request.cert_type if request.cert_type in CertType.values else "unknown"
    }
    if request.cert_type == CertType.JUMINHYO:
        summary.update(
            scope=request.scope if request.scope in JUMINHYO_SCOPES else "unknown",
            show_relationship=bool(request.show_relationship),
            show_honseki=bool(request.show_honseki),
            show_individual_number=bool(request.show_my_number),
            members_selected=len(request.member_resident_ids),
        )
    elif request.cert_type in (CertType.SHOTOKU_KAZEI, CertType.NOZEI):
        summary["fiscal_year"] = request.fiscal_year if isinstance(request.fiscal_year, int) else None
    return summary


def _invalid(reason: str) -> CertificateRefused:
    return CertificateRefused(INVALID_REQUEST, reason)


def _plan(request: IssueRequest, eligibility: HolderEligibility) -> _Plan:
    """Check the well-formed ``request`` (certificates/options.py) against the holder's offer
    (SPEC §2, §3) and decide whom to print."""
    offer = eligibility.offer(request.cert_type)
    if request.copies > offer.max_copies:
        raise _invalid("invalid_copies")
    if not offer.available:
        assert offer.unavailable_code is not None and offer.reason is not None
        raise CertificateRefused(offer.unavailable_code, offer.reason)
    holder = eligibility.holder
    if request.cert_type == CertType.JUMINHYO:
        if request.scope == "all":
            members = eligibility.members
        else:
            chosen = set(request.member_resident_ids)
            if not chosen <= {m.pk for m in eligibility.members}:
                # Someone outside the printable household (another household, a removed member, a
                # member under a support measure): never printed, whatever the kiosk sent.
                raise _invalid("member_not_offered")
            members = tuple(m for m in eligibility.members if m.pk in chosen)
        return _Plan(members=members, expected_persons=tuple(_expected(m, with_birth=True) for m in members))
    if request.cert_type != CertType.INKAN and request.fiscal_year not in offer.fiscal_years:
        raise _invalid("fiscal_year_not_offered")
    with_birth = request.cert_type != CertType.NOZEI  # 納税証明書 prints no birth date
    return _Plan(members=(holder,), expected_persons=(_expected(holder, with_birth=with_birth),))


def _name_key(name: str) -> str:
    # Compare names without the spacing between family and given name, which is layout.
    return "".join(name.split())


def _expected(resident: Resident, *, with_birth: bool) -> tuple[str, ...]:
    name = _name_key(resident.full_name)
    return (name, resident.birth_date.isoformat()) if with_birth else (name,)


def _payload_person(entry: object) -> tuple[str, ...]:
    if not isinstance(entry, list) or not entry or not all(isinstance(x, str) for x in entry):
        raise SubjectMismatch("malformed_person")
    return (_name_key(entry[0]), *entry[1:])


def _build_document(
    request: IssueRequest, eligibility: HolderEligibility, plan: _Plan, *, number: str, check_code: str
) -> documents.CertificateDocument:
    common: dict[str, Any] = {
        "certificate_number": number,
        "check_code": check_code,
        "issued_on": eligibility.today,
        "specimen": settings.CERTIFICATE_SPECIMEN,
    }
    holder = eligibility.holder
    # The builders are looked up on the module at call time: they decide what is printed.
    if request.cert_type == CertType.JUMINHYO:
        return documents.juminhyo_document(
            household=eligibility.household,
            members=plan.members,
            scope=request.scope,
            show_relationship=request.show_relationship,
            show_honseki=request.show_honseki,
            show_my_number=request.show_my_number,
            **common,
        )
    if request.cert_type == CertType.INKAN:
        assert eligibility.registration is not None
        return documents.inkan_document(holder=holder, registration=eligibility.registration, **common)
    assert request.fiscal_year is not None
    if request.cert_type == CertType.SHOTOKU_KAZEI:
        return documents.shotoku_kazei_document(
            holder=holder, assessment=eligibility.assessments[request.fiscal_year], **common
        )
    return documents.nozei_document(
        holder=holder,
        fiscal_year=request.fiscal_year,
        payments=eligibility.payments[request.fiscal_year],
        **common,
    )


def _subject_check(
    *,
    pdf: bytes,
    request: IssueRequest,
    plan: _Plan,
    numbers: list[str],
    issued_on: date,
    built: list[documents.CertificateDocument],
    signer: IssuingKey,
) -> None:
    """Read the finished, signed PDF back and refuse unless it shows exactly what was requested.

    Independent of how the document was built: the payloads come out of the file itself, their
    signatures are verified, and they are compared with the persons taken from the mirror rows
    that eligibility checked (SPEC §3: one request's data must never reach another request).
    """
    try:
        payloads = read_verification_payloads(pdf)
    except ValueError as exc:
        raise SubjectMismatch("payloads_unreadable") from exc
    if len(payloads) != len(numbers):
        raise SubjectMismatch("copy_count_differs")
    expected_persons = sorted(plan.expected_persons)
    expected_ids = frozenset(m.pk for m in plan.members)
    for index, (token, number) in enumerate(zip(payloads, numbers, strict=True)):
        try:
            facts = payload_verify(token, public_key=signer.public_key)
        except PayloadInvalid as exc:
            raise SubjectMismatch("payload_invalid") from exc
        if facts.get("n") != number:
            raise SubjectMismatch("number_differs")
        if facts.get("t") != request.cert_type or facts.get("d") != issued_on.isoformat():
            raise SubjectMismatch("type_or_date_differs")
        persons = facts.get("p")
        if not isinstance(persons, list) or len(persons) != len(expected_persons):
            raise SubjectMismatch("person_count_differs")
        if sorted(_payload_person(p) for p in persons) != expected_persons:
            raise SubjectMismatch("persons_differ")
        if built[index].subject_resident_ids() != expected_ids:
            raise SubjectMismatch("subject_ids_differ")


@dataclass(frozen=True)
class _Prepared:
    """A finished, signed and self-checked PDF with what its record needs; nothing written yet."""

    holder: Resident
    plan: _Plan
    numbers: list[str]
    codes: list[str]
    pdf: bytes
    fee_total: int
    signing_key_id: str


def _prepare(
    *, holder: Resident, request: IssueRequest, now: datetime, card_link: CardLink | None
) -> _Prepared:
    """Everything that can refuse, before anything is written: a refusal needs no rollback.

    ``holder`` is read by the caller in the issuing transaction (the offers the kiosk showed may be
    minutes old, the holder row is not): it is the one read of the holder."""
    eligibility = holder_eligibility(
        holder=holder, now=now, card_link=card_link, cert_types=(request.cert_type,)
    )
    plan = _plan(request, eligibility)
    numbers = certificate_numbers_allocate(count=request.copies, year=eligibility.today.year)
    # One key for the whole document, read once: a rotation meanwhile must not mix two keys in it.
    signer = issuing_key()
    codes = [check_code_compute(number, key=signer) for number in numbers]
    built = [
        _build_document(request, eligibility, plan, number=number, check_code=code)
        for number, code in zip(numbers, codes, strict=True)
    ]
    try:
        # Optional items (本籍, 続柄) are only known now: the renderer checks every string to be
        # printed for 外字 before it draws anything.
        copies = [RenderCopy(document=d, verification_payload=payload_sign(d, key=signer)) for d in built]
        pdf = render_certificate_pdf(copies=copies)
    except UnprintableCharacterError as exc:
        raise CertificateRefused(NOT_AVAILABLE_AT_KIOSK, "gaiji") from exc
    signed = pdf_sign(pdf, key=signer)
    try:
        _subject_check(
            pdf=signed,
            request=request,
            plan=plan,
            numbers=numbers,
            issued_on=eligibility.today,
            built=built,
            signer=signer,
        )
    except SubjectMismatch as exc:
        exc.certificate_numbers = numbers
        raise
    fee_total = eligibility.offer(request.cert_type).fee * request.copies
    return _Prepared(
        holder=holder, plan=plan, numbers=numbers, codes=codes, pdf=signed, fee_total=fee_total,
        signing_key_id=signer.key_id,
    )  # fmt: skip


def _record(
    prepared: _Prepared, *, request: IssueRequest, actor: Actor, terminal_label: str, now: datetime,
    source: str, request_id: str, audit_payload: Mapping[str, Any],
) -> IssuedCertificate:  # fmt: skip
    """The issuance's rows and its audit event (inside a transaction)."""
    sha256 = hashlib.sha256(prepared.pdf).hexdigest()
    printed_ids = sorted(m.pk for m in prepared.plan.members)
    issuance = IssuanceRecord.objects.create(
        cert_type=request.cert_type,
        options=_request_summary(request),
        holder_resident_id=prepared.holder.pk,
        holder_resident_code=prepared.holder.resident_code,
        printed_resident_ids=printed_ids,
        copies=request.copies,
        fee_total=prepared.fee_total,
        status=IssuanceRecord.Status.ISSUED,
        pdf_sha256=sha256,
        signing_key_id=prepared.signing_key_id,
        terminal_label=terminal_label,
        issued_at=now,
    )
    IssuedCertificateNumber.objects.bulk_create(
        IssuedCertificateNumber(number=number, check_code=code, issuance=issuance, copy_index=index)
        for index, (number, code) in enumerate(zip(prepared.numbers, prepared.codes, strict=True), start=1)
    )
    audit_record(
        actor=actor,
        action="certificate.issued",
        resident_ids=printed_ids,
        certificate_numbers=prepared.numbers,
        payload={
            **_request_summary(request),
            **audit_payload,
            "issuance_id": issuance.pk,
            "copies": request.copies,
            "fee_total": prepared.fee_total,
        },
        source=source,
        request_id=request_id,
    )
    return IssuedCertificate(
        issuance=issuance,
        pdf=prepared.pdf,
        sha256=sha256,
        certificate_numbers=prepared.numbers,
        fee_total=prepared.fee_total,
    )


def certificate_issue(
    *,
    holder: Resident,
    request: IssueRequest,
    actor: Actor,
    terminal_label: str,
    now: datetime,
    card_link: CardLink | None = None,
    source: str = "",
    request_id: str = "",
    audit_payload: Mapping[str, Any] | None = None,
) -> IssuedCertificate:
    """Issue ``request`` for ``holder``: re-check eligibility, number, render, sign, self-check, record.

    The outcome is audited once, here (``certificate.issued``, ``.refused``, ``.subject_mismatch``
    or ``.issue_failed``), with the caller's ``audit_payload`` (the kiosk's session and request)
    added to the request's summary.

    Everything that can refuse happens before anything is written, then the records are written in
    one transaction (the caller's, when it has one: no savepoint, which would cost two round trips
    on every kiosk issuance). Refusals raise CertificateRefused (``code`` for the kiosk, ``reason``
    for the audit); a finished PDF that does not show exactly the requested persons raises
    SubjectMismatch and is discarded. The refusal is audited in the caller's transaction: a caller
    that wraps this call in ``transaction.atomic()`` must commit after catching the refusal
    (return the error response from inside the block), or the audit event is lost with it.
    The PDF is returned, never stored; the record keeps only its SHA-256.
    """
    extra = dict(audit_payload or {})
    try:
        prepared = _prepare(holder=holder, request=request, now=now, card_link=card_link)
        with transaction.atomic(savepoint=False):
            return _record(
                prepared,
                request=request,
                actor=actor,
                terminal_label=terminal_label,
                now=now,
                source=source,
                request_id=request_id,
                audit_payload=extra,
            )
    except SubjectMismatch as exc:
        audit_record(
            actor=actor,
            action="certificate.subject_mismatch",
            outcome=AuditEvent.Outcome.FAILURE,
            reason=exc.detail,
            resident_ids=[holder.pk],
            certificate_numbers=exc.certificate_numbers,
            payload={**_request_summary(request), **extra},
            source=source,
            request_id=request_id,
        )
        raise
    except CertificateRefused as exc:
        audit_record(
            actor=actor,
            action="certificate.refused",
            outcome=AuditEvent.Outcome.REFUSED,
            reason=exc.reason,
            resident_ids=[holder.pk],
            payload={**_request_summary(request), **extra, "code": exc.code},
            source=source,
            request_id=request_id,
        )
        raise
    except Exception as exc:
        if transaction.get_connection().needs_rollback:
            # The write failed inside the caller's transaction, which can only roll back now (an
            # event written in it would be rolled back with it); the caller's error surfaces.
            raise
        # A crash is audited too (errors dismissed unseen are how wrong issuances go on); only the exception's
        # class name: its message could hold data.
        audit_record(
            actor=actor,
            action="certificate.issue_failed",
            outcome=AuditEvent.Outcome.FAILURE,
            reason=type(exc).__name__[:64],
            resident_ids=[holder.pk],
            payload={**_request_summary(request), **extra},
            source=source,
            request_id=request_id,
        )
        raise


def _user_of(actor: Actor) -> Any:
    if actor.kind not in (AuditEvent.ActorKind.CLERK, AuditEvent.ActorKind.AUDITOR) or not actor.id.isdigit():
        return None
    return get_user_model().objects.filter(pk=int(actor.id)).first()


def _resident_ids_for_code(resident_code: str) -> list[int]:
    return list(Resident.objects.filter(resident_code=resident_code).values_list("pk", flat=True))


def issuance_stop_create(
    *, resident_code: str, reason: str, until: date | None, actor: Actor
) -> IssuanceStop:
    """A clerk stops kiosk issuance for one resident (交付停止), until ``until`` inclusive or until lifted.

    Only with ``certificates.add_issuancestop`` (係長); otherwise ``PermissionDenied``, audited."""
    actor_permission_require(
        actor=actor, permission="certificates.add_issuancestop", action="resident.stop_set"
    )
    resident_code, reason = resident_code.strip(), reason.strip()
    if not resident_code:
        raise ValueError("住民番号を入力してください。")
    if not reason:
        raise ValueError("停止理由を入力してください。")
    with transaction.atomic():
        stop = IssuanceStop.objects.create(
            resident_code=resident_code,
            reason=reason[:200],
            until=until,
            created_by=_user_of(actor),
            created_at=timezone.now(),
        )
        # The clerk's free-text reason stays on the stop (it may name people); the audit holds its id.
        audit_record(
            actor=actor,
            action="resident.stop_set",
            resident_ids=_resident_ids_for_code(resident_code),
            payload={"stop_id": stop.pk, "until": until.isoformat() if until else None},
        )
        return stop


def issuance_stop_lift(*, stop_id: int, actor: Actor) -> IssuanceStop:
    """Lift a stop; lifting a lifted stop changes nothing.

    Only with ``certificates.change_issuancestop`` (係長); otherwise ``PermissionDenied``, audited."""
    actor_permission_require(
        actor=actor, permission="certificates.change_issuancestop", action="resident.stop_lifted"
    )
    with transaction.atomic():
        stop = IssuanceStop.objects.select_for_update().get(pk=stop_id)
        if stop.lifted_at is not None:
            return stop
        stop.lifted_at = timezone.now()
        stop.lifted_by = _user_of(actor)
        stop.save(update_fields=["lifted_at", "lifted_by"])
        audit_record(
            actor=actor,
            action="resident.stop_lifted",
            resident_ids=_resident_ids_for_code(stop.resident_code),
            payload={"stop_id": stop.pk},
        )
        return stop


# --- Fees ----------------------------------------------------------------------------------------


class FeeLocked(ValueError):
    """A fee row that is in force or superseded may not be edited: add a newer row instead."""


FEE_START_IN_FUTURE = "適用開始日は明日以降の日付にしてください(過去の手数料は変更できません)。"


def fee_editable(*, fee: Fee, today: date) -> bool:
    """Only a fee that starts in the future may still be corrected: one in force (or superseded)
    explains the fees residents paid, so a new amount is a new row with its own start date."""
    return fee.effective_from > today


def _fee_payload(fee: Fee) -> dict[str, Any]:
    return {
        "fee": fee.pk,
        "cert_type": fee.cert_type,
        "amount_yen": fee.amount_yen,
        "effective_from": fee.effective_from.isoformat(),
    }


def fee_save(*, fee: Fee, actor: Actor, today: date, source: str = "", request_id: str = "") -> Fee:
    """Add a fee row, or correct one that starts after ``today`` (係長), audited as ``fee.added`` /
    ``fee.changed`` (with the old and new values of what changed). Raises ``FeeLocked`` for a row in
    force or superseded, ``PermissionDenied`` (audited) for an actor without the permission.

    ``source`` and ``request_id``: the clerk's client address and request id, when a clerk acts."""
    adding = fee.pk is None
    action = "fee.added" if adding else "fee.changed"
    permission = "certificates.add_fee" if adding else "certificates.change_fee"
    actor_permission_require(actor=actor, permission=permission, action=action)
    if fee.effective_from <= today:
        # A start date in the past (or today) would rewrite which fee residents were charged.
        raise FeeLocked(FEE_START_IN_FUTURE)
    with transaction.atomic():
        payload: dict[str, Any] = {}
        if not adding:
            stored = Fee.objects.select_for_update().get(pk=fee.pk)
            if not fee_editable(fee=stored, today=today):
                raise FeeLocked(
                    "適用中または適用済みの手数料は変更できません。新しい適用開始日で追加してください。"
                )
            old, new = _fee_payload(stored), _fee_payload(fee)
            payload["changed"] = {
                field: [old[field], new[field]] for field in new if old[field] != new[field]
            }
            if not payload["changed"]:
                return fee  # saved unchanged: nothing happened to record
        fee.save()
        audit_record(
            actor=actor,
            action=action,
            payload={**_fee_payload(fee), **payload},
            source=source,
            request_id=request_id,
        )
    return fee


def fee_delete(*, fee_id: int, actor: Actor, source: str = "", request_id: str = "") -> None:
    """Delete a fee row (the system administrator only: ``certificates.delete_fee``), audited."""
    actor_permission_require(actor=actor, permission="certificates.delete_fee", action="fee.deleted")
    with transaction.atomic():
        fee = Fee.objects.select_for_update().get(pk=fee_id)
        audit_record(
            actor=actor, action="fee.deleted", payload=_fee_payload(fee), source=source, request_id=request_id
        )
        fee.delete()
