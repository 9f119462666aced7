"""Recovery by a システム管理者 only: resetting a staff member's second factor, lifting a lockout."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from audit.services import AuditPayloadError
from staff import roles
from staff.services import staff_lockout_reset, staff_otp_reset
from tests.staff.conftest import code_now, device_of, make_user, sign_in

pytestmark = pytest.mark.django_db


def _signed_in_with_code(username: str, role: str | None) -> Client:
    user = make_user(username, role)
    client = Client()
    assert sign_in(client, username, code=code_now(device_of(user))).status_code == 302
    return client


def test_a_system_administrator_resets_a_second_factor_and_the_clerk_enrols_again(otp_required):
    admin = _signed_in_with_code("kanri", None)
    clerk = make_user("madoguchi", roles.CLERK)
    url = reverse("admin:staff_user_otp_reset", args=[clerk.pk])
    confirm = admin.get(url)
    assert confirm.status_code == 200 and "madoguchi" in confirm.content.decode()
    assert TOTPDevice.objects.filter(user=clerk).exists()  # a GET changes nothing

    done = admin.post(url)
    assert done.status_code == 302 and done["Location"] == reverse("admin:auth_user_change", args=[clerk.pk])
    assert not TOTPDevice.objects.filter(user=clerk).exists()
    event = AuditEvent.objects.get(action="staff.otp_reset")
    assert event.payload == {"user_id": clerk.pk, "devices_removed": 1, "sessions_ended": 0}
    assert event.actor_label == "kanri"

    # The clerk's next sign-in with the password leads to enrolment.
    response = sign_in(Client(), "madoguchi")
    assert response.status_code == 302 and response["Location"].startswith(reverse("staff:otp_enrol"))


def test_the_user_page_offers_the_reset_to_a_system_administrator(otp_required):
    admin = _signed_in_with_code("kanri", None)
    clerk = make_user("madoguchi", roles.CLERK)
    page = admin.get(reverse("admin:auth_user_change", args=[clerk.pk])).content.decode()
    assert reverse("admin:staff_user_otp_reset", args=[clerk.pk]) in page
    assert admin.get(reverse("admin:auth_user_changelist")).status_code == 200


@pytest.mark.parametrize("role", [roles.CLERK, roles.SUPERVISOR])
def test_nobody_else_may_reset_a_second_factor(otp_required, role):
    actor = _signed_in_with_code("someone", role)
    target = make_user("madoguchi", roles.CLERK)
    url = reverse("admin:staff_user_otp_reset", args=[target.pk])
    assert actor.get(url).status_code == 403
    assert actor.post(url).status_code == 403
    changelist = actor.post(
        reverse("admin:auth_user_changelist"),
        {"action": "otp_reset_action", "_selected_action": [target.pk]},
    )
    assert changelist.status_code == 403
    assert TOTPDevice.objects.filter(user=target).exists()
    assert not AuditEvent.objects.filter(action="staff.otp_reset").exists()


def test_an_auditor_is_turned_away_at_the_admin_door(otp_required):
    auditor = _signed_in_with_code("kansa", roles.AUDITOR)
    target = make_user("madoguchi", roles.CLERK)
    response = auditor.post(reverse("admin:staff_user_otp_reset", args=[target.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert TOTPDevice.objects.filter(user=target).exists()


def test_a_staff_member_with_user_permissions_is_still_not_a_system_administrator(otp_required):
    from django.contrib.auth.models import Permission

    actor = make_user("jinji", roles.CLERK)
    user_permissions = Permission.objects.filter(content_type__app_label="auth", codename__endswith="user")
    actor.user_permissions.add(*user_permissions)
    client = Client()
    assert sign_in(client, "jinji", code=code_now(device_of(actor))).status_code == 302
    target = make_user("madoguchi", roles.CLERK)
    changelist = client.get(reverse("admin:auth_user_changelist"))
    assert changelist.status_code == 200
    assert "otp_reset_action" not in changelist.content.decode()
    assert client.post(reverse("admin:staff_user_otp_reset", args=[target.pk])).status_code == 403
    with pytest.raises(PermissionDenied):
        staff_otp_reset(actor_user=actor, target=target)
    assert TOTPDevice.objects.filter(user=target).exists()


def test_the_admin_action_resets_several_and_lifts_lockouts(otp_required, settings):
    admin = _signed_in_with_code("kanri", None)
    clerk = make_user("madoguchi", roles.CLERK)
    supervisor = make_user("kakaricho", roles.SUPERVISOR)
    locked = Client(REMOTE_ADDR="198.51.100.20")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(locked, "madoguchi", password="wrong-password-1")
    elsewhere = Client(REMOTE_ADDR="198.51.100.21")
    assert sign_in(elsewhere, "madoguchi", code=code_now(device_of(clerk))).status_code == 429

    changelist = reverse("admin:auth_user_changelist")
    admin.post(changelist, {"action": "lockout_reset_action", "_selected_action": [clerk.pk]})
    assert not AccessAttempt.objects.filter(username="madoguchi").exists()
    assert AuditEvent.objects.get(action="staff.lockout_reset").payload["user_id"] == clerk.pk
    device = device_of(clerk)
    device.throttle_reset()
    assert sign_in(elsewhere, "madoguchi", code=code_now(device)).status_code == 302

    admin.post(changelist, {"action": "otp_reset_action", "_selected_action": [clerk.pk, supervisor.pk]})
    assert not TOTPDevice.objects.filter(user__in=[clerk, supervisor]).exists()
    reset_ids = sorted(e.payload["user_id"] for e in AuditEvent.objects.filter(action="staff.otp_reset"))
    assert reset_ids == sorted([clerk.pk, supervisor.pk])


def test_the_services_check_the_actor_themselves():
    clerk = make_user("madoguchi", roles.CLERK)
    supervisor = make_user("kakaricho", roles.SUPERVISOR)
    with pytest.raises(PermissionDenied):
        staff_lockout_reset(actor_user=supervisor, target=clerk)
    inactive_admin = make_user("kanri", None)
    inactive_admin.is_active = False
    with pytest.raises(PermissionDenied):
        staff_otp_reset(actor_user=inactive_admin, target=clerk)
    assert TOTPDevice.objects.filter(user=clerk).exists()


def test_the_audit_log_refuses_a_secret_in_a_payload():
    """The guard every staff event relies on: a key named like a secret never reaches the log."""
    from audit.services import Actor, audit_record

    with pytest.raises(AuditPayloadError):
        audit_record(actor=Actor.job("test"), action="staff.otp_reset", payload={"totp_secret": "x"})


def test_no_admin_page_shows_a_secret_not_even_to_a_system_administrator(otp_required):
    from django.contrib import admin as django_admin

    from staff.services import totp_secret_base32

    admin = _signed_in_with_code("kanri", None)
    clerk = make_user("madoguchi", roles.CLERK)
    device = device_of(clerk)
    assert not django_admin.site.is_registered(TOTPDevice)
    for url in (
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_user_change", args=[clerk.pk]),
        reverse("admin:staff_user_otp_reset", args=[clerk.pk]),
    ):
        page = admin.get(url).content.decode()
        assert totp_secret_base32(device) not in page and device.key not in page


def test_a_system_administrator_resetting_their_own_second_factor_is_signed_out(otp_required):
    """The reset ends the administrator's own session too: they are signed out, not shown an error
    about a session deleted under the request."""
    from django.contrib.auth import get_user_model

    admin = _signed_in_with_code("kanri", None)
    me = get_user_model().objects.get(username="kanri")
    done = admin.post(reverse("admin:staff_user_otp_reset", args=[me.pk]))
    assert done.status_code == 302 and done["Location"].startswith(reverse("admin:login"))
    assert "_auth_user_id" not in admin.session
    assert not TOTPDevice.objects.filter(user=me).exists()
    assert AuditEvent.objects.get(action="staff.otp_reset").payload["sessions_ended"] == 1


def test_the_action_on_oneself_signs_out_too(otp_required):
    from django.contrib.auth import get_user_model

    admin = _signed_in_with_code("kanri", None)
    me = get_user_model().objects.get(username="kanri")
    clerk = make_user("madoguchi", roles.CLERK)
    done = admin.post(
        reverse("admin:auth_user_changelist"),
        {"action": "otp_reset_action", "_selected_action": [me.pk, clerk.pk]},
    )
    assert done.status_code == 302
    assert "_auth_user_id" not in admin.session
    assert not TOTPDevice.objects.filter(user__in=[me, clerk]).exists()
