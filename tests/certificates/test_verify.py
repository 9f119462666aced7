"""The public /verify/ page (SPEC §8): valid, voided, unknown, expired; rate limit; audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import Actor
from certificates.lifecycle import issuance_void
from certificates.models import IssuanceRecord, IssuedCertificateNumber
from certificates.options import IssueRequest
from certificates.services import certificate_issue
from residents.models import Resident
from tests.certificates.factories import ResidentFactory, SealRegistrationFactory, jst, signing_dir_for_tests

pytestmark = pytest.mark.django_db

URL = "/verify/"


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path_factory):
    settings.KONBINI_SIGNING_DIR = signing_dir_for_tests(tmp_path_factory)


@pytest.fixture
def issued():
    holder = ResidentFactory.create()
    SealRegistrationFactory.create(resident=holder)
    result = certificate_issue(
        holder=holder, request=IssueRequest(cert_type="inkan", copies=1),
        actor=Actor(kind="terminal", id="1", label="端末"), terminal_label="端末", now=jst(2026, 11, 26),
    )  # fmt: skip
    # Issued "now" as far as the retention window is concerned.
    IssuanceRecord.objects.update(issued_at=jst(2026, 11, 26))
    return result


def _code(number: str) -> str:
    return IssuedCertificateNumber.objects.get(number=number).check_code


def _post(client, number: str, code: str, ip: str = "203.0.113.5"):
    return client.post(URL, {"number": number, "check_code": code}, REMOTE_ADDR=ip)


def _freeze(monkeypatch, now):
    monkeypatch.setattr("certificates.views.timezone.now", lambda: now)


def test_url_is_at_the_site_root():
    assert reverse("certificates:verify") == URL


def test_form_is_shown_in_japanese(client):
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "交付番号" in body and "照合コード" in body and 'lang="ja"' in body


def test_valid_certificate_shows_type_and_date_only(client, issued, monkeypatch):
    _freeze(monkeypatch, jst(2026, 12, 1))
    number = issued.certificate_numbers[0]
    response = _post(client, number, _code(number))
    body = response.content.decode()
    assert response.status_code == 200
    assert "有効" in body and "印鑑登録証明書" in body and "2026年11月26日" in body
    holder_name = Resident.objects.get(pk=issued.issuance.holder_resident_id).full_name
    assert holder_name not in body
    event = AuditEvent.objects.filter(action="verify.lookup").get()
    assert event.actor_kind == "public" and event.source == "203.0.113.5"
    assert event.payload == {"result": "valid"} and event.certificate_numbers == [number]
    assert event.resident_ids == [issued.issuance.holder_resident_id]
    assert _code(number) not in str(event.payload) + event.reason
    # As a person types it: lower case, with a hyphen.
    typed = _code(number).lower()
    assert "有効" in _post(client, number, f"{typed[:3]}-{typed[3:]}").content.decode()


def test_voided_certificate_is_invalid(client, issued, monkeypatch):
    _freeze(monkeypatch, jst(2026, 12, 1))
    issuance_void(issuance_id=issued.issuance.pk, reason="印刷失敗", actor=Actor.system())
    number = issued.certificate_numbers[0]
    body = _post(client, number, _code(number)).content.decode()
    assert "無効" in body and "取り消されています" in body


def test_unknown_number_and_wrong_code_look_the_same(client, issued, monkeypatch):
    _freeze(monkeypatch, jst(2026, 12, 1))
    number = issued.certificate_numbers[0]
    wrong_code = _post(client, number, "ZZZZZZ" if _code(number) != "ZZZZZZ" else "YYYYYY").content.decode()
    unknown = _post(client, "41201-2026-77777777", "ABCDEF").content.decode()
    for body in (wrong_code, unknown):
        assert "該当なし" in body and "印鑑登録証明書" not in body
    results = list(AuditEvent.objects.filter(action="verify.lookup").values_list("payload", flat=True))
    assert results == [{"result": "unknown"}, {"result": "unknown"}]


def test_answers_until_the_retention_period_ends(client, issued, monkeypatch, settings):
    settings.VERIFY_RETENTION_DAYS = 90
    number = issued.certificate_numbers[0]
    _freeze(monkeypatch, jst(2026, 11, 26) + timedelta(days=90))
    assert "有効" in _post(client, number, _code(number)).content.decode()
    _freeze(monkeypatch, jst(2026, 11, 26) + timedelta(days=91))
    assert "該当なし" in _post(client, number, _code(number)).content.decode()


def test_rate_limit_per_client_ip(client, issued, settings):
    settings.VERIFY_RATE_LIMIT_PER_MINUTE = 3
    number = issued.certificate_numbers[0]
    statuses = [_post(client, number, "AAAAAA").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    # Another client is not affected.
    assert _post(client, number, "AAAAAA", ip="198.51.100.9").status_code == 200
    limited = AuditEvent.objects.filter(action="verify.lookup", reason="rate_limited")
    assert limited.count() == 1  # once per window, not once per request
    assert AuditEvent.objects.filter(action="verify.lookup", outcome="success").count() == 4


def test_malformed_input_is_a_form_error_and_changes_nothing(client):
    response = client.post(URL, {"number": "x" * 100, "check_code": ""}, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="verify.lookup").exists()
