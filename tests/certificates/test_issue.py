"""certificate_issue end to end (SPEC §2, §3, §8): numbers, PDF, self-check, records and audit."""

from __future__ import annotations

import hashlib
import io
from datetime import date
from typing import Any

import pytest
from django.db import connection
from pypdf import PdfReader

from audit.models import AuditEvent
from audit.services import Actor
from certificates import documents
from certificates.errors import CertificateRefused, SubjectMismatch
from certificates.lifecycle import IssuanceStateError, issuance_mark_printed, issuance_void
from certificates.models import IssuanceRecord, IssuedCertificateNumber
from certificates.options import IssueRequest, OptionsInvalid
from certificates.rendering import read_verification_payloads
from certificates.services import IssuedCertificate, certificate_issue
from certificates.signing import check_code_matches, payload_verify
from residents.models import Resident
from tests.certificates.factories import (
    ResidentFactory,
    SealRegistrationFactory,
    TaxAssessmentFactory,
    TaxPaymentFactory,
    jst,
    member_of,
    signing_dir_for_tests,
    valid_my_number,
)

pytestmark = pytest.mark.django_db

NOW = jst(2026, 11, 26)
KIOSK = Actor(kind="terminal", id="1", label="テスト端末")


@pytest.fixture(autouse=True)
def _signing(settings, tmp_path_factory):
    settings.KONBINI_SIGNING_DIR = signing_dir_for_tests(tmp_path_factory)


def _ok_holder() -> Resident:
    holder = ResidentFactory.create(my_number=valid_my_number(424242))
    member_of(holder, my_number=valid_my_number(535353))
    SealRegistrationFactory.create(resident=holder)
    TaxAssessmentFactory.create(resident=holder, fiscal_year=2026)
    TaxPaymentFactory.create(resident=holder, fiscal_year=2026)
    return holder


def _issue(holder: Resident, **kwargs: Any) -> IssuedCertificate:
    return certificate_issue(
        holder=holder, request=IssueRequest(**kwargs), actor=KIOSK, terminal_label="7-Eleven 001", now=NOW
    )


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def test_juminhyo_issue_records_numbers_and_audits_without_the_document():
    holder = _ok_holder()
    issued = _issue(holder, cert_type="juminhyo", copies=2)
    assert issued.pdf.startswith(b"%PDF")
    assert issued.sha256 == hashlib.sha256(issued.pdf).hexdigest()
    assert len(issued.certificate_numbers) == 2 and len(set(issued.certificate_numbers)) == 2
    assert all(n.startswith("41201-2026-") for n in issued.certificate_numbers)
    assert issued.fee_total == 400
    record = IssuanceRecord.objects.get()
    assert record == issued.issuance
    assert record.status == "issued" and record.pdf_sha256 == issued.sha256
    assert sorted(record.printed_resident_ids) == sorted(Resident.objects.values_list("pk", flat=True))
    assert record.options["scope"] == "all"
    numbers = list(IssuedCertificateNumber.objects.order_by("copy_index").values_list("number", "check_code"))
    assert [n for n, _ in numbers] == issued.certificate_numbers
    assert all(check_code_matches(n, c) for n, c in numbers)
    payloads = read_verification_payloads(issued.pdf)
    assert [payload_verify(p)["n"] for p in payloads] == issued.certificate_numbers
    event = AuditEvent.objects.get(action="certificate.issued")
    assert event.outcome == "success"
    assert sorted(event.resident_ids) == sorted(record.printed_resident_ids)
    assert event.certificate_numbers == issued.certificate_numbers
    assert "pdf" not in str(event.payload).lower()


def test_my_number_is_printed_only_when_asked():
    holder = _ok_holder()
    without = _text(_issue(holder, cert_type="juminhyo", copies=1).pdf)
    with_number = _text(_issue(holder, cert_type="juminhyo", copies=1, show_my_number=True).pdf)
    mine = valid_my_number(424242)
    grouped = f"{mine[0:4]} {mine[4:8]} {mine[8:12]}"
    assert grouped not in without and mine not in without.replace(" ", "")
    assert grouped in with_number or mine in with_number.replace(" ", "")
    record = IssuanceRecord.objects.order_by("-pk").first()
    assert record is not None and record.options["show_individual_number"] is True


def test_selected_members_only_are_printed():
    holder = _ok_holder()
    issued = _issue(
        holder, cert_type="juminhyo", copies=1, scope="selected", member_resident_ids=(holder.pk,)
    )
    assert issued.issuance.printed_resident_ids == [holder.pk]
    facts = payload_verify(read_verification_payloads(issued.pdf)[0])
    assert facts["p"] == [[holder.full_name, holder.birth_date.isoformat()]]


def test_member_outside_the_offer_is_an_invalid_request_and_audited():
    holder = _ok_holder()
    hidden = member_of(holder, given_name="秘子", support_measure=True)
    stranger = ResidentFactory.create()
    for member_id in (hidden.pk, stranger.pk):
        with pytest.raises(CertificateRefused) as info:
            _issue(holder, cert_type="juminhyo", copies=1, scope="selected", member_resident_ids=(member_id,))
        assert (info.value.code, info.value.reason) == ("INVALID_REQUEST", "member_not_offered")
    assert not IssuanceRecord.objects.exists()
    assert AuditEvent.objects.filter(action="certificate.refused", reason="member_not_offered").count() == 2


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"cert_type": "juminhyo", "copies": 0}, "invalid_copies"),
        ({"cert_type": "juminhyo", "copies": 11}, "invalid_copies"),
        ({"cert_type": "juminhyo", "copies": True}, "invalid_copies"),
        ({"cert_type": "passport", "copies": 1}, "unknown_type"),
        ({"cert_type": "juminhyo", "copies": 1, "scope": "some"}, "invalid_options"),
        ({"cert_type": "juminhyo", "copies": 1, "scope": "selected"}, "invalid_members"),
        ({"cert_type": "juminhyo", "copies": 1, "member_resident_ids": (1,)}, "members_with_scope_all"),
        ({"cert_type": "inkan", "copies": 1, "show_honseki": True}, "options_not_applicable"),
        ({"cert_type": "inkan", "copies": 1, "fiscal_year": 2026}, "options_not_applicable"),
        ({"cert_type": "nozei", "copies": 1}, "invalid_fiscal_year"),
    ],
)
def test_a_malformed_request_cannot_be_made(kwargs, reason):
    with pytest.raises(OptionsInvalid) as info:
        IssueRequest(**kwargs)
    assert (info.value.code, info.value.reason) == ("INVALID_REQUEST", reason)
    assert info.value.fields


def test_a_fiscal_year_not_offered_changes_nothing():
    holder = _ok_holder()
    reason = "fiscal_year_not_offered"
    with pytest.raises(CertificateRefused) as info:
        _issue(holder, cert_type="shotoku_kazei", copies=1, fiscal_year=2023)
    assert (info.value.code, info.value.reason) == ("INVALID_REQUEST", reason)
    assert not IssuanceRecord.objects.exists()
    assert not IssuedCertificateNumber.objects.exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome, event.reason) == ("certificate.refused", "refused", reason)


def test_refusal_is_rechecked_at_issue_time_with_the_true_reason_audited():
    holder = _ok_holder()
    Resident.objects.filter(pk=holder.pk).update(support_measure=True)  # set after the offers were shown
    with pytest.raises(CertificateRefused) as info:
        # The caller reads the holder in the issuing transaction (the kiosk does, with its card).
        _issue(Resident.objects.get(pk=holder.pk), cert_type="inkan", copies=1)
    assert info.value.code == "NOT_AVAILABLE_AT_KIOSK"
    assert "支援" not in str(info.value)
    event = AuditEvent.objects.get()
    assert (event.outcome, event.reason, event.resident_ids) == ("refused", "support_measure", [holder.pk])


def test_gaiji_in_an_optional_item_refuses_only_when_it_is_printed():
    holder = _ok_holder()
    Resident.objects.filter(pk=holder.pk).update(honseki="佐賀県佐賀市𠮷野町1番")
    _issue(holder, cert_type="juminhyo", copies=1)
    with pytest.raises(CertificateRefused) as info:
        _issue(holder, cert_type="juminhyo", copies=1, show_honseki=True)
    assert (info.value.code, info.value.reason) == ("NOT_AVAILABLE_AT_KIOSK", "gaiji")


@pytest.mark.parametrize("cert_type", ["inkan", "shotoku_kazei", "nozei"])
def test_each_holder_only_type_is_issued_for_the_holder(cert_type):
    holder = _ok_holder()
    fiscal_year = None if cert_type == "inkan" else 2026
    issued = _issue(holder, cert_type=cert_type, copies=1, fiscal_year=fiscal_year)
    assert issued.issuance.printed_resident_ids == [holder.pk]
    facts = payload_verify(read_verification_payloads(issued.pdf)[0])
    assert facts["t"] == cert_type and facts["p"][0][0] == holder.full_name


def test_subject_check_refuses_a_document_about_someone_else(monkeypatch):
    holder = _ok_holder()
    other = ResidentFactory.create(family_name="武雄", given_name="次郎")
    real_builder = documents.inkan_document

    def wrong_person(**kwargs):
        # A builder that mixes up requests: the holder's registration, another person's data.
        document = real_builder(**kwargs)
        assert isinstance(document.content, documents.InkanContent)
        content = documents.InkanContent(
            holder=documents._printed_person(other),
            registration_number=document.content.registration_number,
            seal_image_png=document.content.seal_image_png,
        )
        return documents.CertificateDocument(
            cert_type="inkan", certificate_number=document.certificate_number, check_code=document.check_code,
            issued_on=document.issued_on, specimen=True, content=content,
        )  # fmt: skip

    monkeypatch.setattr(documents, "inkan_document", wrong_person)
    with pytest.raises(SubjectMismatch) as info:
        _issue(holder, cert_type="inkan", copies=1)
    assert info.value.code == "NOT_AVAILABLE_AT_KIOSK" and info.value.detail == "persons_differ"
    assert not IssuanceRecord.objects.exists() and not IssuedCertificateNumber.objects.exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome) == ("certificate.subject_mismatch", "failure")
    assert len(event.certificate_numbers) == 1


def test_subject_check_refuses_an_extra_person(monkeypatch):
    holder = _ok_holder()
    stranger = ResidentFactory.create(family_name="鹿島")
    real_builder = documents.juminhyo_document

    def extra(**kwargs):
        document = real_builder(**kwargs)
        content = document.content
        assert isinstance(content, documents.JuminhyoContent)
        persons = (*content.persons, documents._printed_person(stranger))
        return documents.CertificateDocument(
            cert_type="juminhyo", certificate_number=document.certificate_number,
            check_code=document.check_code, issued_on=document.issued_on, specimen=True,
            content=documents.JuminhyoContent(
                scope=content.scope, household_address=content.household_address, head_name="",
                show_relationship=False, show_honseki=False, show_my_number=False, persons=persons,
            ),
        )  # fmt: skip

    monkeypatch.setattr(documents, "juminhyo_document", extra)
    with pytest.raises(SubjectMismatch) as info:
        _issue(holder, cert_type="juminhyo", copies=1)
    assert info.value.detail == "person_count_differs"
    assert not IssuanceRecord.objects.exists()


def test_a_failed_issuance_leaves_a_gap_and_never_reuses_its_number(monkeypatch):
    holder = _ok_holder()
    first = _issue(holder, cert_type="inkan", copies=1).certificate_numbers[0]
    monkeypatch.setattr(documents, "inkan_document", lambda **kw: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        _issue(holder, cert_type="inkan", copies=1)
    monkeypatch.undo()
    third = _issue(holder, cert_type="inkan", copies=1).certificate_numbers[0]
    assert third != first
    if connection.vendor == "postgresql":
        # nextval is never rolled back: the failed issuance's number is a gap, never handed out again.
        assert int(third.rsplit("-", 1)[1]) == int(first.rsplit("-", 1)[1]) + 2
    event = AuditEvent.objects.get(action="certificate.issue_failed")
    assert (event.outcome, event.reason) == ("failure", "RuntimeError")


def test_mark_printed_and_void():
    holder = _ok_holder()
    issued = _issue(holder, cert_type="inkan", copies=1)
    record = issued.issuance
    assert issuance_mark_printed(issuance_id=record.pk, actor=KIOSK) == "printed"
    record.refresh_from_db()
    assert record.status == "printed" and record.completed_at is not None
    assert issuance_void(issuance_id=record.pk, reason="誤交付", actor=KIOSK) == "voided"
    record.refresh_from_db()
    assert (record.status, record.void_reason, record.voided_by) == ("voided", "誤交付", "テスト端末")
    assert record.voided_at is not None and record.completed_at is not None
    assert issuance_void(issuance_id=record.pk, reason="再度", actor=KIOSK) == "voided"
    record.refresh_from_db()
    assert record.void_reason == "誤交付"
    printed, voided = (
        AuditEvent.objects.get(action=a) for a in ("certificate.printed", "certificate.voided")
    )
    assert printed.certificate_numbers == voided.certificate_numbers == issued.certificate_numbers
    assert printed.resident_ids == voided.resident_ids == [holder.pk]
    assert AuditEvent.objects.filter(action="certificate.voided").count() == 1
    assert AuditEvent.objects.filter(action="certificate.printed").count() == 1


def test_a_voided_issuance_cannot_be_marked_printed():

    holder = _ok_holder()
    issued = _issue(holder, cert_type="inkan", copies=1)
    issuance_void(issuance_id=issued.issuance.pk, reason="印刷失敗", actor=KIOSK)
    with pytest.raises(IssuanceStateError):
        issuance_mark_printed(issuance_id=issued.issuance.pk, actor=KIOSK)
    assert IssuanceRecord.objects.get().status == "voided"


def test_issue_date_is_the_japan_date():
    holder = _ok_holder()
    issued = certificate_issue(
        holder=holder, request=IssueRequest(cert_type="inkan", copies=1), actor=KIOSK, terminal_label="t",
        now=jst(2027, 1, 1, 0, 5),
    )  # fmt: skip
    facts = payload_verify(read_verification_payloads(issued.pdf)[0])
    assert facts["d"] == date(2027, 1, 1).isoformat()
    assert issued.certificate_numbers[0].startswith("41201-2027-")


def test_household_change_between_offer_and_issue_refuses_juminhyo():
    holder = _ok_holder()
    spouse = Resident.objects.exclude(pk=holder.pk).get()
    Resident.objects.filter(pk=spouse.pk).update(pending_change=True)
    with pytest.raises(CertificateRefused) as info:
        _issue(holder, cert_type="juminhyo", copies=1)
    assert (info.value.code, info.value.reason) == ("NOT_AVAILABLE_AT_KIOSK", "household_pending_change")
    # The holder's own certificates are unaffected.
    assert _issue(holder, cert_type="inkan", copies=1).issuance.printed_resident_ids == [holder.pk]
