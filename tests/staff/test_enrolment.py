"""Enrolment by QR code at the first sign-in of an account without a device, and what a session
signed in by password alone may reach while STAFF_OTP_REQUIRED is on."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, quote, unquote, urlparse

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from staff import roles
from staff.services import totp_secret_base32
from tests.staff.conftest import code_now, device_of, make_user, sign_in

pytestmark = pytest.mark.django_db

ENROL = reverse("staff:otp_enrol")


def _code_from_base32(secret: str) -> str:
    """What an authenticator app shows for the secret typed in by hand."""
    padded = secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8)
    return f"{totp(base64.b32decode(padded)):06d}"


def test_first_sign_in_without_a_device_leads_to_enrolment_and_nowhere_else(client, otp_required):
    clerk = make_user("madoguchi", roles.CLERK, device=False)
    response = sign_in(client, "madoguchi")
    assert response.status_code == 302 and response["Location"].startswith(ENROL)

    # Before the first code is confirmed the session reaches neither the admin nor its pages.
    for url in (reverse("admin:index"), reverse("admin:certificates_issuancerecord_changelist")):
        blocked = client.get(url)
        assert blocked.status_code == 302 and blocked["Location"].startswith(reverse("admin:login"))

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert "<svg" in html
    device = TOTPDevice.objects.get(user=clerk, confirmed=False)
    secret = totp_secret_base32(device)
    assert page.context["secret"].replace(" ", "") == secret
    uri = urlparse(page.context["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert unquote(uri.path) == "/佐賀市コンビニ交付:madoguchi"
    query = parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["佐賀市コンビニ交付"]
    assert query["digits"] == ["6"] and query["period"] == ["30"]
    # Reloading the page keeps the QR code already scanned.
    assert client.get(response["Location"]).context["secret"].replace(" ", "") == secret

    with time_machine.travel(timezone.now(), tick=False) as clock:
        right = _code_from_base32(secret)
        wrong = client.post(ENROL, {"otp_token": f"{(int(right) + 1) % 1_000_000:06d}"})
        assert wrong.status_code == 400
        assert not TOTPDevice.objects.filter(user=clerk, confirmed=True).exists()
        assert client.get(reverse("admin:index")).status_code == 302
        clock.shift(2)  # django-otp throttles a device for a second after a wrong code
        done = client.post(ENROL, {"otp_token": right, "next": reverse("admin:index")})
    assert done.status_code == 302 and done["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200
    assert TOTPDevice.objects.get(user=clerk).confirmed

    event = AuditEvent.objects.get(action="staff.otp_enrolled")
    assert event.actor_id == str(clerk.pk) and event.payload["user_id"] == clerk.pk
    assert secret not in str(event.payload) and right not in str(event.payload)

    # From now on the account signs in with its code, and the password alone is refused.
    client.logout()
    assert sign_in(client, "madoguchi").status_code == 200
    assert "_auth_user_id" not in client.session


def test_an_enrolled_account_cannot_enrol_a_second_device_with_its_password(client, otp_required):
    make_user("madoguchi", roles.CLERK)
    assert sign_in(client, "madoguchi").status_code == 200  # refused: no code
    # Even a password-only session of a device owner (made some other way) is sent away.
    other = Client()
    other.force_login(make_user("kakaricho", roles.SUPERVISOR))
    response = other.get(ENROL)
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(confirmed=False).exists()


def test_the_enrolment_page_wants_a_signed_in_user(client, otp_required):
    response = client.get(ENROL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_an_auditor_enrols_and_then_reaches_the_audit_views(client, otp_required):
    make_user("kansa", roles.AUDITOR, device=False)
    response = client.post(
        reverse("admin:login"),
        {"username": "kansa", "password": "staff-test-password-1", "otp_token": "", "next": "/audit/"},
    )
    assert response.status_code == 302 and response["Location"] == f"{ENROL}?next={quote('/audit/', safe='')}"
    assert client.get("/audit/").status_code == 302
    secret = client.get(response["Location"]).context["secret"]
    done = client.post(response["Location"], {"otp_token": _code_from_base32(secret), "next": "/audit/"})
    assert done["Location"] == "/audit/"
    assert client.get("/audit/").status_code == 200


def test_enrolment_does_not_redirect_off_site(client, otp_required):
    make_user("madoguchi", roles.CLERK, device=False)
    sign_in(client, "madoguchi")
    secret = client.get(ENROL).context["secret"]
    done = client.post(ENROL, {"otp_token": _code_from_base32(secret), "next": "https://evil.example/"})
    assert done["Location"] == reverse("admin:index")


@pytest.mark.parametrize("required", [True, False])
def test_a_password_only_session_reaches_the_admin_and_audit_only_when_codes_are_optional(settings, required):
    settings.STAFF_OTP_REQUIRED = required
    clerk, auditor = Client(), Client()
    clerk.force_login(make_user("madoguchi", roles.CLERK))
    auditor.force_login(make_user("kansa", roles.AUDITOR))
    admin_page = clerk.get(reverse("admin:index"))
    audit_page = auditor.get(reverse("audit:search"))
    if required:
        assert admin_page.status_code == 302 and admin_page["Location"].startswith(reverse("admin:login"))
        assert audit_page.status_code == 302 and audit_page["Location"].startswith(reverse("admin:login"))
    else:
        assert admin_page.status_code == 200 and audit_page.status_code == 200


def test_a_verified_session_ends_when_a_system_administrator_resets_the_device(client, otp_required):
    clerk = make_user("madoguchi", roles.CLERK)
    assert sign_in(client, "madoguchi", code=code_now(device_of(clerk))).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    TOTPDevice.objects.filter(user=clerk).delete()
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_the_secret_is_not_in_the_page_of_anyone_else(client, otp_required):
    make_user("madoguchi", roles.CLERK, device=False)
    sign_in(client, "madoguchi")
    secret = client.get(ENROL).context["secret"]
    other = Client()
    make_user("kakaricho", roles.SUPERVISOR, device=False)
    sign_in(other, "kakaricho")
    assert not re.search(re.escape(secret), other.get(ENROL).content.decode())
