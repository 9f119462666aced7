"""SPEC §9: staff sign in with user name, password and a 6-digit TOTP code in one form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from staff import roles
from staff.forms import INVALID_LOGIN
from tests.staff.conftest import PASSWORD, code_now, device_of, make_user, sign_in

pytestmark = pytest.mark.django_db


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _refused(response, client: Client) -> bool:
    shown = str(INVALID_LOGIN) in response.content.decode()
    return response.status_code == 200 and shown and not _signed_in(client)


def test_the_login_page_has_the_three_fields_of_one_form(client):
    page = client.get(reverse("admin:login")).content.decode()
    for field in ("username", "password", "otp_token"):
        assert f'name="{field}"' in page
    assert 'autocomplete="one-time-code"' in page


def test_with_otp_required_a_right_code_signs_in_and_reaches_the_admin(client, otp_required):
    clerk = make_user("madoguchi", roles.CLERK)
    response = sign_in(client, "madoguchi", code=code_now(device_of(clerk)))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


def test_with_otp_required_a_missing_code_is_refused(client, otp_required):
    make_user("madoguchi", roles.CLERK)
    assert _refused(sign_in(client, "madoguchi"), client)
    assert client.get(reverse("admin:index")).status_code == 302


def test_with_otp_optional_the_password_alone_signs_in(client, otp_optional):
    make_user("madoguchi", roles.CLERK)
    assert sign_in(client, "madoguchi").status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_with_otp_optional_a_right_code_signs_in_verified(client, otp_optional):
    clerk = make_user("madoguchi", roles.CLERK)
    assert sign_in(client, "madoguchi", code=code_now(device_of(clerk))).status_code == 302
    assert client.session["otp_device_id"] == device_of(clerk).persistent_id


@pytest.mark.parametrize("required", [True, False])
def test_a_wrong_code_is_refused_whether_or_not_codes_are_required(client, settings, required):
    settings.STAFF_OTP_REQUIRED = required
    clerk = make_user("madoguchi", roles.CLERK)
    right = code_now(device_of(clerk))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert _refused(sign_in(client, "madoguchi", code=wrong), client)
    assert _refused(sign_in(client, "madoguchi", code="12ab56"), client)


def test_a_code_given_to_an_account_without_a_device_is_refused(client, otp_optional):
    make_user("madoguchi", roles.CLERK, device=False)
    assert _refused(sign_in(client, "madoguchi", code="123456"), client)


def test_the_refusal_does_not_say_which_of_the_three_was_wrong(client, otp_required):
    clerk = make_user("madoguchi", roles.CLERK)
    get_user_model().objects.create_user("outsider", password=PASSWORD)  # not staff
    right = code_now(device_of(clerk))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    pages = [
        sign_in(client, "madoguchi", password="wrong-password-1", code=right),
        sign_in(client, "madoguchi", code=wrong),
        sign_in(client, "madoguchi"),
        sign_in(client, "nobody", code=right),
        sign_in(client, "outsider"),  # right password, but not staff
    ]
    errors = [page.context["form"].non_field_errors() for page in pages]
    assert all(list(error) == [str(INVALID_LOGIN)] for error in errors)
    assert all(not page.context["form"]["otp_token"].errors for page in pages)
    assert not _signed_in(client)


def test_a_code_once_used_is_refused_even_within_its_thirty_seconds(otp_required):
    """Replay: django-otp's TOTP device keeps the last accepted time step (last_t) and accepts
    only later ones, also within the ±1 step tolerance for clock drift."""
    clerk = make_user("madoguchi", roles.CLERK)
    device = device_of(clerk)
    start = datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC)  # the first second of a 30-second step
    with time_machine.travel(start, tick=False) as clock:
        code = code_now(device)
        first = Client()
        assert sign_in(first, "madoguchi", code=code).status_code == 302
        # The same code again, in the same step: someone who watched it typed cannot reuse it.
        second = Client()
        assert _refused(sign_in(second, "madoguchi", code=code), second)
        # A step later the old code is still inside the drift tolerance, and still refused.
        clock.shift(timedelta(seconds=30))
        assert _refused(sign_in(second, "madoguchi", code=code), second)
        # The device throttles after failures (1 s, 2 s, ...); the next step's code is accepted.
        clock.shift(timedelta(seconds=30))
        fresh = code_now(device)
        assert fresh != code
        assert sign_in(second, "madoguchi", code=fresh).status_code == 302
    device.refresh_from_db()
    assert device.last_t == int(start.timestamp() + 60) // 30


def test_an_inactive_account_cannot_sign_in_even_with_a_right_code(client, otp_required):
    clerk = make_user("madoguchi", roles.CLERK)
    clerk.is_active = False
    clerk.save()
    assert _refused(sign_in(client, "madoguchi", code=code_now(device_of(clerk))), client)


def test_sign_ins_and_refused_ones_are_audited_with_the_true_address(client, otp_required, settings):
    from audit.models import AuditEvent

    settings.KONBINI_TRUSTED_PROXIES = ["10.9.0.1/32"]
    clerk = make_user("madoguchi", roles.CLERK)
    proxy: dict[str, Any] = {"REMOTE_ADDR": "10.9.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.23"}
    client.post(reverse("admin:login"), {"username": "hunter2-typed-here", "password": "x"}, **proxy)
    client.post(
        reverse("admin:login"),
        {"username": "madoguchi", "password": PASSWORD, "otp_token": code_now(device_of(clerk))},
        **proxy,
    )
    Client().post(
        reverse("admin:login"),
        {"username": "madoguchi", "password": PASSWORD, "otp_token": "000000"},
        **proxy,
    )
    events = list(AuditEvent.objects.filter(action="staff.login").order_by("pk"))
    assert [(e.outcome, e.actor_id) for e in events] == [
        ("failure", "public"),
        ("success", str(clerk.pk)),
        ("failure", str(clerk.pk)),
    ]
    assert {e.source for e in events} == {"198.51.100.23"}
    # What was typed into the user name field of an unknown account is nowhere in the log.
    assert not any("hunter2" in str(vars(e)) for e in events)
