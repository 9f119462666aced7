"""Clerks' acts around issuance (SPEC §2, §6): stops set and lifted (audited), records read-only."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from audit.services import Actor
from certificates.eligibility import offers_for_holder
from certificates.models import IssuanceStop
from certificates.options import IssueRequest
from certificates.services import certificate_issue, issuance_stop_create, issuance_stop_lift
from tests.certificates.factories import ResidentFactory, SealRegistrationFactory, jst, signing_dir_for_tests

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk():
    return get_user_model().objects.create_superuser("clerk01", "clerk01@example.jp", "a-long-password-1")


def test_stop_service_is_audited_and_takes_effect(clerk):
    holder = ResidentFactory.create()
    stop = issuance_stop_create(
        resident_code=holder.resident_code,
        reason="カード紛失の届出",
        until=date(2026, 12, 31),
        actor=Actor.user(clerk),
    )
    assert stop.created_by == clerk and stop.until == date(2026, 12, 31)
    event = AuditEvent.objects.get(action="resident.stop_set")
    assert event.resident_ids == [holder.pk] and event.actor_kind == "clerk"
    assert "紛失" not in str(event.payload)  # the clerk's free text stays on the stop
    assert {o.reason for o in offers_for_holder(holder=holder, now=jst(2026, 11, 26))} == {"clerk_stop"}
    issuance_stop_lift(stop_id=stop.pk, actor=Actor.user(clerk))
    assert AuditEvent.objects.filter(action="resident.stop_lifted").count() == 1
    assert "clerk_stop" not in {o.reason for o in offers_for_holder(holder=holder, now=jst(2026, 11, 26))}


def test_stop_needs_a_reason():
    with pytest.raises(ValueError, match="停止理由"):
        issuance_stop_create(resident_code="R000000001", reason="  ", until=None, actor=Actor.system())
    assert not IssuanceStop.objects.exists() and not AuditEvent.objects.exists()


def test_clerk_adds_and_lifts_a_stop_in_the_admin(client, clerk):
    holder = ResidentFactory.create()
    client.force_login(clerk)
    response = client.post(
        "/admin/certificates/issuancestop/add/",
        {"resident_code": holder.resident_code, "reason": "本人からの申出", "until": "2027-03-31"},
    )
    assert response.status_code == 302
    stop = IssuanceStop.objects.get()
    assert stop.created_by == clerk and stop.until == date(2027, 3, 31)
    assert AuditEvent.objects.filter(action="resident.stop_set", resident_ids=[holder.pk]).exists()
    response = client.post(
        "/admin/certificates/issuancestop/", {"action": "lift_selected", "_selected_action": [stop.pk]}
    )
    assert response.status_code == 302
    stop.refresh_from_db()
    assert stop.lifted_at is not None and stop.lifted_by == clerk
    assert AuditEvent.objects.filter(action="resident.stop_lifted").count() == 1


def test_issuance_records_are_searchable_by_number_and_read_only(client, clerk, settings, tmp_path_factory):
    settings.KONBINI_SIGNING_DIR = signing_dir_for_tests(tmp_path_factory)
    holder = ResidentFactory.create()
    SealRegistrationFactory.create(resident=holder)
    issued = certificate_issue(
        holder=holder, request=IssueRequest(cert_type="inkan", copies=1), actor=Actor.system(),
        terminal_label="ローソン 佐賀駅前", now=jst(2026, 11, 26),
    )  # fmt: skip
    client.force_login(clerk)
    listing = client.get("/admin/certificates/issuancerecord/", {"q": issued.certificate_numbers[0]})
    assert listing.status_code == 200 and "ローソン 佐賀駅前" in listing.content.decode()
    assert (
        client.get("/admin/certificates/issuancerecord/", {"q": "41201-2026-99999999"})
        .context["cl"]
        .result_count
        == 0
    )
    detail = client.get(f"/admin/certificates/issuancerecord/{issued.issuance.pk}/change/")
    assert detail.status_code == 200
    assert issued.issuance.numbers.get().check_code not in detail.content.decode()
    assert client.get("/admin/certificates/issuancerecord/add/").status_code == 403
