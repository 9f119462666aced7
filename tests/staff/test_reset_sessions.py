"""A second-factor reset ends the account's sessions, and only a fresh password sign-in may enrol:
a session older than the reset (a shared counter PC, a stolen cookie) must never enrol a new
authenticator. Enrolment is serialised on the user's row, so an account ends with one device."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from staff import roles
from staff.services import staff_otp_enrol_confirm, staff_otp_reset
from tests.staff.conftest import code_now, device_of, make_user, sign_in

ENROL = reverse("staff:otp_enrol")


def _sessions_of(user) -> int:
    return sum(1 for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk))


def _to_login(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_a_session_older_than_the_reset_is_signed_out_and_cannot_enrol(otp_required):
    clerk = make_user("madoguchi", roles.CLERK)
    old, other = Client(), Client()
    assert sign_in(old, "madoguchi", code=code_now(device_of(clerk))).status_code == 302
    kanri = make_user("kanri", None)
    assert sign_in(other, "kanri", code=code_now(device_of(kanri))).status_code == 302
    assert old.get(reverse("admin:index")).status_code == 200

    staff_otp_reset(actor_user=kanri, target=clerk, source="198.51.100.7")

    assert _sessions_of(clerk) == 0
    assert _to_login(old.get(ENROL))
    assert _to_login(old.get(reverse("admin:index")))
    assert "_auth_user_id" not in old.session
    assert not TOTPDevice.objects.filter(user=clerk).exists()  # no secret was made for it
    event = AuditEvent.objects.get(action="staff.otp_reset")
    assert event.payload == {"user_id": clerk.pk, "devices_removed": 1, "sessions_ended": 1}
    # Only the target's sessions end: the administrator is still signed in.
    assert other.get(reverse("admin:index")).status_code == 200


@pytest.mark.django_db
def test_a_password_only_session_without_the_need_to_enrol_cannot_open_the_enrolment_page(settings):
    make_user("madoguchi", roles.CLERK, device=False)
    client = Client()
    settings.STAFF_OTP_REQUIRED = False  # a password sign-in that needs no enrolment...
    assert sign_in(client, "madoguchi").status_code == 302
    settings.STAFF_OTP_REQUIRED = True  # ...is signed in but may not enrol
    assert _to_login(client.get(ENROL))
    assert _to_login(client.post(ENROL, {"otp_token": "123456"}))
    assert not TOTPDevice.objects.exists()


@pytest.mark.django_db
def test_the_right_to_enrol_lapses_after_ten_minutes_and_ends_with_the_enrolment(client, otp_required):
    make_user("madoguchi", roles.CLERK, device=False)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert sign_in(client, "madoguchi")["Location"].startswith(ENROL)
        clock.shift(timedelta(minutes=9))
        assert client.get(ENROL).status_code == 200
        clock.shift(timedelta(minutes=2))
        assert _to_login(client.get(ENROL))

    make_user("kakaricho", roles.SUPERVISOR, device=False)
    other = Client()
    sign_in(other, "kakaricho")
    assert other.get(ENROL).status_code == 200
    device = TOTPDevice.objects.get(pk=other.session["staff_otp_enrol_device"])
    assert other.post(ENROL, {"otp_token": code_now(device)}).status_code == 302
    assert "staff_otp_enrol_until" not in other.session
    assert other.get(reverse("admin:index")).status_code == 200


@pytest.mark.django_db
def test_two_pending_sessions_of_one_account_get_different_secrets_and_only_one_confirms(otp_required):
    clerk = make_user("madoguchi", roles.CLERK, device=False)
    first, second = Client(), Client()
    sign_in(first, "madoguchi")
    sign_in(second, "madoguchi")
    secrets = {c.get(ENROL).context["secret"] for c in (first, second)}
    assert len(secrets) == 2
    devices = list(TOTPDevice.objects.filter(user=clerk).order_by("pk"))
    assert first.post(ENROL, {"otp_token": code_now(devices[0])}).status_code == 302
    # The second session's code is right for its own device, but the account has one now.
    assert not staff_otp_enrol_confirm(user=clerk, device=devices[1], token=code_now(devices[1]))
    assert list(TOTPDevice.objects.filter(user=clerk).values_list("pk", "confirmed")) == [
        (devices[0].pk, True)
    ]


@pytest.mark.django_db
def test_the_login_event_says_whether_a_code_was_verified(settings):
    clerk = make_user("madoguchi", roles.CLERK)
    make_user("kakaricho", roles.SUPERVISOR, device=False)
    settings.STAFF_OTP_REQUIRED = True
    sign_in(Client(), "madoguchi", code=code_now(device_of(clerk)))
    sign_in(Client(), "kakaricho")  # may only enrol
    settings.STAFF_OTP_REQUIRED = False
    sign_in(Client(), "madoguchi")  # codes optional: the password alone
    sign_in(Client(), "madoguchi", password="wrong-password-1")
    events = AuditEvent.objects.filter(action="staff.login").order_by("pk")
    assert [(e.actor_label, e.outcome, e.payload) for e in events] == [
        ("madoguchi", "success", {"second_factor": True}),
        ("kakaricho", "success", {"second_factor": False}),
        ("madoguchi", "success", {"second_factor": False}),
        ("madoguchi", "failure", {}),
    ]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_enrolments_leave_one_confirmed_device(monkeypatch):
    """The first confirmation is held inside its transaction, after its checks; the second must wait
    for it (the user's row is locked) and then be refused. Locking only the device rows, both
    passed the checks side by side and then deadlocked on each other's device."""
    assert connection.vendor == "postgresql", "concurrent writers need PostgreSQL: set DATABASE_URL"
    clerk = make_user("madoguchi", roles.CLERK, device=False)
    # Two sessions' unconfirmed devices (as two first visits at once could create).
    devices = [TOTPDevice.objects.create(user=clerk, name="TOTP", confirmed=False) for _ in range(2)]
    codes = [f"{totp(d.bin_key):06d}" for d in devices]
    original = TOTPDevice.verify_token
    inside = [threading.Event(), threading.Event()]
    go = threading.Event()

    def held_verify(self, token):
        index = [d.pk for d in devices].index(self.pk)
        inside[index].set()
        if index == 0:
            go.wait(timeout=10)
        return original(self, token)

    monkeypatch.setattr(TOTPDevice, "verify_token", held_verify)
    results: dict[int, bool] = {}
    errors: list[BaseException] = []

    def confirm(index: int) -> None:
        try:
            results[index] = staff_otp_enrol_confirm(user=clerk, device=devices[index], token=codes[index])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread's assertion
            errors.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=confirm, args=(0,))
    first.start()
    assert inside[0].wait(timeout=10)
    second = threading.Thread(target=confirm, args=(1,))
    second.start()
    # Locking device rows only, the second got here at once; now it waits for the user's row.
    assert not inside[1].wait(timeout=1)
    go.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert errors == []
    assert results == {0: True, 1: False}
    assert TOTPDevice.objects.filter(user=clerk, confirmed=True).count() == 1
