"""Reads of issuance records: the public verification lookup (SPEC §8)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings

from certificates.eligibility import japan_today
from certificates.models import CertType, IssuanceRecord, IssuedCertificateNumber, SigningKey
from certificates.signing import check_code_normalise
from certificates.signing_keys import PublishedKey

MAX_NUMBER_LENGTH = 32
MAX_CODE_LENGTH = 16


@dataclass(frozen=True)
class VerificationAnswer:
    status: str  # "valid" (有効) | "voided" (無効) | "key_revoked" (無効: its key) | "unknown" (該当なし)
    cert_type: str = ""
    issued_on: date | None = None
    # For "key_revoked": "compromised" (its signing key leaked) or "outside_period" (signed outside
    # its key's period of use), and the day the key was revoked.
    key_problem: str = ""
    key_revoked_on: date | None = None
    # For the audit event only (whose certificate was looked up); never shown on the page.
    certificate_number: str = ""
    resident_ids: tuple[int, ...] = ()

    @property
    def cert_type_label(self) -> str:
        return str(CertType(self.cert_type).label) if self.cert_type else ""


UNKNOWN = VerificationAnswer(status="unknown")


def certificate_verify_lookup(*, number: str, check_code: str, now: datetime) -> VerificationAnswer:
    """Answer /verify/: valid, voided or unknown, with the type and issue date only.

    A wrong check code is "unknown", exactly as an unknown number: the page must not confirm that a
    number exists to someone who does not hold the paper. Certificates older than
    VERIFY_RETENTION_DAYS are "unknown" too (SPEC §8).
    """
    number = number.strip()
    if not number or len(number) > MAX_NUMBER_LENGTH or len(check_code) > MAX_CODE_LENGTH:
        return UNKNOWN
    row = (
        IssuedCertificateNumber.objects.select_related("issuance")
        .only(
            "number",
            "check_code",
            "issuance__cert_type",
            "issuance__status",
            "issuance__issued_at",
            "issuance__printed_resident_ids",
            "issuance__signing_key_id",
        )
        .filter(number=number)
        .first()
    )
    # Compared with the stored code (it survives a rotation of the issuing key), in constant time,
    # and compared even when the number is unknown so that timing does not tell the two apart.
    stored = row.check_code if row is not None else "0" * 6
    matches = hmac.compare_digest(stored.encode("ascii"), check_code_normalise(check_code).encode("utf-8"))
    if row is None or not matches:
        return UNKNOWN
    issuance = row.issuance
    issued_on = japan_today(issuance.issued_at)
    if japan_today(now) - issued_on > timedelta(days=settings.VERIFY_RETENTION_DAYS):
        return UNKNOWN
    status = "voided" if issuance.status == IssuanceRecord.Status.VOIDED else "valid"
    key_problem, revoked_on = _signing_key_problem(issuance) if status == "valid" else ("", None)
    return VerificationAnswer(
        status="key_revoked" if key_problem else status,
        key_problem=key_problem,
        key_revoked_on=revoked_on,
        cert_type=issuance.cert_type,
        issued_on=issued_on,
        certificate_number=row.number,
        resident_ids=tuple(int(pk) for pk in issuance.printed_resident_ids),
    )


def _signing_key_problem(issuance: IssuanceRecord) -> tuple[str, date | None]:
    """("", None) when the key that signed ``issuance`` still vouches for it; else what is wrong with
    it and since when (SPEC §8). Records from before key rotation name no key: the key active when
    they were issued signed them.
    """
    keys = SigningKey.objects.order_by("activated_at", "pk")
    if issuance.signing_key_id:
        row = keys.filter(key_id=issuance.signing_key_id).first()
    else:
        row = keys.filter(activated_at__lte=issuance.issued_at).last()
    if row is None:
        return "", None
    if row.status == SigningKey.Status.COMPROMISED and row.compromised_at is not None:
        return "compromised", japan_today(row.compromised_at)
    if PublishedKey.from_row(row).refusal(signed_at=issuance.issued_at):
        return "outside_period", None
    return "", None
