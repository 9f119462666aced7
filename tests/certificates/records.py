"""Issuance records as the kiosk API leaves them (record + kiosk issuance + terminal), for the
admin and report tests. Rows are written directly: these tests are about what clerks see."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime

from audit.services import Actor
from certificates.models import IssuanceRecord, IssuedCertificateNumber
from kiosk_api.models import KioskIssuance, KioskSession, Terminal
from kiosk_api.services import terminal_register

_numbers = itertools.count(1)


def terminal_for(chain: str, name: str = "1号機") -> Terminal:
    terminal, _token = terminal_register(
        name=name,
        chain=chain,
        store_code=f"{chain[:2].upper()}-{next(_numbers):04d}",
        actor=Actor.job("test"),
    )
    return terminal


def kiosk_record(
    *,
    terminal: Terminal | None,
    at: datetime,
    cert_type: str = "juminhyo",
    copies: int = 1,
    fee_per_copy: int = 200,
    status: str = "printed",
    check_code: str = "7K3M9P",
) -> IssuanceRecord:
    """One issuance with its certificate numbers, linked to ``terminal`` (None: made without a kiosk)."""
    record = IssuanceRecord.objects.create(
        cert_type=cert_type,
        options={"type": cert_type},
        holder_resident_id=1,
        holder_resident_code="R000000001",
        printed_resident_ids=[1],
        copies=copies,
        fee_total=copies * fee_per_copy,
        status=status,
        pdf_sha256="0" * 64,
        terminal_label=str(terminal) if terminal else "",
        issued_at=at,
    )
    for index in range(1, copies + 1):
        IssuedCertificateNumber.objects.create(
            number=f"2026-{next(_numbers):08d}", check_code=check_code, issuance=record, copy_index=index
        )
    if terminal is not None:
        session = KioskSession.objects.create(
            terminal=terminal, challenge=b"0" * 32, challenge_expires_at=at, created_at=at, expires_at=at
        )
        KioskIssuance.objects.create(
            terminal=terminal,
            session=session,
            idempotency_key=uuid.uuid4().hex,
            request_fingerprint="0" * 64,
            issuance_record_id=record.pk,
            fee_total=record.fee_total,
            created_at=at,
        )
    return record
