"""Reads of issuance records: the public verification lookup (SPEC §8)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings

from certificates.eligibility import japan_today
from certificates.models import CertType, IssuanceRecord, IssuedCertificateNumber
from certificates.signing import check_code_normalise

MAX_NUMBER_LENGTH = 32
MAX_CODE_LENGTH = 16


@dataclass(frozen=True)
class VerificationAnswer:
    status: str  # "valid" (有効) | "voided" (無効) | "unknown" (該当なし)
    cert_type: str = ""
    issued_on: date | None = None
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
    return VerificationAnswer(
        status=status,
        cert_type=issuance.cert_type,
        issued_on=issued_on,
        certificate_number=row.number,
        resident_ids=tuple(int(pk) for pk in issuance.printed_resident_ids),
    )
