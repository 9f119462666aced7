"""The issuance records' admin: search, filters, void with a reason, stops, fees."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from certificates.models import Fee, IssuanceRecord, IssuanceStop
from staff import roles
from tests.certificates.factories import ResidentFactory
from tests.certificates.records import kiosk_record, terminal_for

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:certificates_issuancerecord_changelist"


def _login(client, settings, role: str):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = get_user_model().objects.create_user(f"user-{len(role)}", password="x" * 12, is_staff=True)
    user.groups.set([roles.roles_ensure()[role]])
    client.force_login(user)
    return user


@pytest.fixture
def supervisor(client, settings):
    return _login(client, settings, roles.SUPERVISOR)


@pytest.fixture
def records():
    lawson, seven = terminal_for("lawson", "ローソン1号機"), terminal_for("seven_eleven", "セブン1号機")
    at = timezone.now() - timedelta(hours=2)
    return {
        "lawson": kiosk_record(terminal=lawson, at=at, check_code="7K3M9P"),
        "seven": kiosk_record(terminal=seven, at=at, cert_type="inkan"),
        "seven_terminal": seven,
    }


def _listed(response) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


def test_search_by_certificate_number_and_filters(client, supervisor, records):
    lawson, seven = records["lawson"], records["seven"]
    number = lawson.numbers.get().number
    assert _listed(client.get(reverse(CHANGELIST), {"q": number})) == {lawson.pk}
    assert _listed(client.get(reverse(CHANGELIST), {"chain": "seven_eleven"})) == {seven.pk}
    assert _listed(client.get(reverse(CHANGELIST), {"terminal": records["seven_terminal"].pk})) == {seven.pk}
    assert _listed(client.get(reverse(CHANGELIST), {"cert_type": "inkan"})) == {seven.pk}
    assert _listed(client.get(reverse(CHANGELIST), {"status": "printed"})) == {lawson.pk, seven.pk}
    day = timezone.localtime(lawson.issued_at)
    by_day = {"issued_at__year": day.year, "issued_at__month": day.month, "issued_at__day": day.day}
    assert _listed(client.get(reverse(CHANGELIST), by_day)) == {lawson.pk, seven.pk}
    listing = client.get(reverse(CHANGELIST)).content.decode()
    assert number in listing and "集計・精算CSV" in listing


def test_void_asks_for_a_reason_first_and_changes_nothing_without_one(client, supervisor, records):
    record = records["lawson"]
    first = client.post(reverse(CHANGELIST), {"action": "void_selected", "_selected_action": [record.pk]})
    assert first.status_code == 200 and "取消理由" in first.content.decode()
    blank = client.post(
        reverse(CHANGELIST),
        {"action": "void_selected", "_selected_action": [record.pk], "confirm": "yes", "reason": "   "},
    )
    assert blank.status_code == 200 and "取消理由を入力してください。" in blank.content.decode()
    record.refresh_from_db()
    assert record.status == "printed"
    assert not AuditEvent.objects.filter(action="certificate.voided").exists()


def test_voided_certificate_is_audited_and_verify_answers_voided(client, supervisor, records):
    record = records["lawson"]
    number = record.numbers.get().number
    response = client.post(
        reverse(CHANGELIST),
        {
            "action": "void_selected",
            "_selected_action": [record.pk],
            "confirm": "yes",
            "reason": "窓口で再交付",
        },
        follow=True,
    )
    assert "1件の交付を取り消しました。" in response.content.decode()
    record.refresh_from_db()
    assert (record.status, record.void_reason, record.voided_by) == (
        "voided",
        "窓口で再交付",
        supervisor.username,
    )
    event = AuditEvent.objects.get(action="certificate.voided")
    assert event.certificate_numbers == [number] and event.actor_id == str(supervisor.pk)
    assert "窓口で再交付" not in str(event.payload)

    client.logout()
    answer = client.post(reverse("certificates:verify"), {"number": number, "check_code": "7K3M9P"})
    assert answer.context["answer"].status == "voided"
    assert "取り消されています" in answer.content.decode()


def test_voiding_twice_voids_once(client, supervisor, records):
    record = records["lawson"]
    for _ in range(2):
        client.post(
            reverse(CHANGELIST),
            {
                "action": "void_selected",
                "_selected_action": [record.pk],
                "confirm": "yes",
                "reason": "誤交付",
            },
        )
    assert AuditEvent.objects.filter(action="certificate.voided").count() == 1


def test_supervisor_sets_a_stop_with_reason_and_end_date_and_lifts_it(client, supervisor):
    client.post(
        reverse("admin:certificates_issuancestop_add"),
        {"resident_code": "R000000077", "reason": "本人からの申出", "until": "2027-01-31"},
    )
    stop = IssuanceStop.objects.get()
    assert (stop.until, stop.created_by) == (date(2027, 1, 31), supervisor)
    assert AuditEvent.objects.filter(action="resident.stop_set").count() == 1
    missing = client.post(
        reverse("admin:certificates_issuancestop_add"), {"resident_code": "R1", "reason": ""}
    )
    assert missing.status_code == 200 and IssuanceStop.objects.count() == 1
    client.post(
        reverse("admin:certificates_issuancestop_changelist"),
        {"action": "lift_selected", "_selected_action": [stop.pk]},
    )
    stop.refresh_from_db()
    assert stop.lifted_by == supervisor
    assert AuditEvent.objects.filter(action="resident.stop_lifted").count() == 1


def test_fee_list_marks_the_fee_in_force(client, supervisor):
    Fee.objects.create(cert_type="juminhyo", amount_yen=200, effective_from=date(2020, 4, 1))
    Fee.objects.create(cert_type="juminhyo", amount_yen=250, effective_from=date(2024, 4, 1))
    Fee.objects.create(cert_type="juminhyo", amount_yen=300, effective_from=date(2099, 4, 1))
    response = client.get(reverse("admin:certificates_fee_changelist"))
    rows = {fee.amount_yen: fee for fee in response.context["cl"].result_list}
    fee_admin = response.context["cl"].model_admin
    assert [fee_admin.in_force(rows[a]) for a in (200, 250, 300)] == [False, True, False]
    assert client.get(reverse("admin:certificates_fee_delete", args=[rows[200].pk])).status_code == 403


def test_issuance_records_cannot_be_edited_even_by_a_supervisor(client, supervisor, records):
    record = records["lawson"]
    client.post(reverse("admin:certificates_issuancerecord_change", args=[record.pk]), {"status": "voided"})
    record.refresh_from_db()
    assert record.status == IssuanceRecord.Status.PRINTED


def test_clerks_views_of_records_and_stops_are_audited(client, settings, records):
    clerk = _login(client, settings, roles.CLERK)
    holder = ResidentFactory.create()
    stop = IssuanceStop.objects.create(
        resident_code=holder.resident_code, reason="申出", created_at=timezone.now()
    )
    client.get(reverse(CHANGELIST))
    client.get(reverse("admin:certificates_issuancerecord_change", args=[records["lawson"].pk]))
    client.get(reverse("admin:certificates_issuancestop_change", args=[stop.pk]))
    events = AuditEvent.objects.filter(actor_id=str(clerk.pk)).order_by("pk")
    assert [(e.action, e.resident_ids) for e in events] == [
        ("admin.resident_list", [1]),
        ("admin.resident_view", [1]),
        ("admin.resident_view", [holder.pk]),
    ]


PROXY, CLIENT = "10.9.8.7", "203.0.113.42"


def _through_proxy(settings) -> dict[str, str]:
    """Request headers of a clerk behind the city's trusted proxy: the audit must name the clerk's
    address, not the proxy's."""
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": CLIENT}


def test_adding_and_changing_a_fee_through_the_admin_is_audited(client, supervisor, settings):
    headers = _through_proxy(settings)
    added = client.post(
        reverse("admin:certificates_fee_add"),
        {"cert_type": "inkan", "amount_yen": "300", "effective_from": "2027-04-01"},
        **headers,
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    fee = Fee.objects.get()
    event = AuditEvent.objects.get(action="fee.added")
    assert event.payload == {
        "fee": fee.pk,
        "cert_type": "inkan",
        "amount_yen": 300,
        "effective_from": "2027-04-01",
    }
    assert (event.actor_kind, event.actor_id) == ("clerk", str(supervisor.pk))
    assert (event.source, event.request_id) == (CLIENT, added["X-Request-ID"])

    changed = client.post(
        reverse("admin:certificates_fee_change", args=[fee.pk]),
        {"cert_type": "inkan", "amount_yen": "350", "effective_from": "2027-04-01"},
        **headers,
    )
    assert changed.status_code == 302, changed.content.decode()[:2000]
    assert Fee.objects.get().amount_yen == 350
    event = AuditEvent.objects.get(action="fee.changed")
    assert event.payload["changed"] == {"amount_yen": [300, 350]}
    assert (event.source, event.request_id) == (CLIENT, changed["X-Request-ID"])


def test_saving_a_fee_unchanged_records_nothing(client, supervisor):
    fee = Fee.objects.create(cert_type="nozei", amount_yen=200, effective_from=date(2020, 4, 1))
    client.post(
        reverse("admin:certificates_fee_change", args=[fee.pk]),
        {"cert_type": "nozei", "amount_yen": "200", "effective_from": "2020-04-01"},
    )
    assert not AuditEvent.objects.filter(action__startswith="fee.").exists()


def test_deleting_fees_through_the_admin_is_audited(client, settings):
    headers = _through_proxy(settings)
    admin_user = get_user_model().objects.create_superuser("fee-admin", password="y" * 12)
    client.force_login(admin_user)
    first = Fee.objects.create(cert_type="juminhyo", amount_yen=200, effective_from=date(2020, 4, 1))
    second = Fee.objects.create(cert_type="juminhyo", amount_yen=250, effective_from=date(2024, 4, 1))
    third = Fee.objects.create(cert_type="juminhyo", amount_yen=300, effective_from=date(2025, 4, 1))
    response = client.post(
        reverse("admin:certificates_fee_delete", args=[first.pk]), {"post": "yes"}, **headers
    )
    assert response.status_code == 302
    deleted = AuditEvent.objects.get(action="fee.deleted")
    assert deleted.payload == {
        "fee": first.pk,
        "cert_type": "juminhyo",
        "amount_yen": 200,
        "effective_from": "2020-04-01",
    }
    assert deleted.source == CLIENT
    # The bulk action records each row it deletes.
    client.post(
        reverse("admin:certificates_fee_changelist"),
        {"action": "delete_selected", "_selected_action": [second.pk, third.pk], "post": "yes"},
        **headers,
    )
    assert not Fee.objects.exists()
    assert sorted(e.payload["fee"] for e in AuditEvent.objects.filter(action="fee.deleted")) == sorted(
        [first.pk, second.pk, third.pk]
    )


def test_a_fee_cannot_be_added_or_moved_into_the_past(client, supervisor):
    """The fee table says what residents were charged: no new row, and no corrected one, may start
    today or earlier."""
    added = client.post(
        reverse("admin:certificates_fee_add"),
        {"cert_type": "inkan", "amount_yen": "300", "effective_from": "2020-04-01"},
    )
    assert added.status_code == 200 and "明日以降" in added.content.decode()
    future = Fee.objects.create(cert_type="inkan", amount_yen=300, effective_from=date(2031, 4, 1))
    moved = client.post(
        reverse("admin:certificates_fee_change", args=[future.pk]),
        {"cert_type": "inkan", "amount_yen": "300", "effective_from": "2021-04-01"},
    )
    assert moved.status_code == 200
    future.refresh_from_db()
    assert future.effective_from == date(2031, 4, 1) and Fee.objects.count() == 1
    assert not AuditEvent.objects.filter(action__startswith="fee.").exists()


def test_the_fee_service_refuses_a_start_in_the_past_whoever_calls_it():
    from audit.services import Actor
    from certificates.services import FeeLocked, fee_save

    with pytest.raises(FeeLocked):
        fee_save(
            fee=Fee(cert_type="inkan", amount_yen=1, effective_from=date(2026, 12, 6)),
            actor=Actor.job("test"),
            today=date(2026, 12, 6),
        )
    assert not Fee.objects.exists()
