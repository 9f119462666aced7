"""SPEC §7: ``create_staff --username U --role clerk|supervisor|auditor|admin``."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from staff import roles

pytestmark = pytest.mark.django_db


def _create(username: str, role: str) -> tuple[list[str], dict[str, str]]:
    out = StringIO()
    call_command("create_staff", username=username, role=role, stdout=out)
    lines = out.getvalue().strip().splitlines()
    return lines, json.loads(lines[-1])


def _code(secret: str) -> str:
    return f"{totp(base64.b32decode(secret + '=' * (-len(secret) % 8))):06d}"


def test_create_staff_prints_the_account_as_json_on_its_last_line_and_it_signs_in(otp_required):
    lines, printed = _create("madoguchi", "clerk")
    assert set(printed) == {"username", "password", "totp_secret"}
    assert printed["username"] == "madoguchi"
    assert len(lines) >= 2  # a human sentence first, the JSON last
    user = get_user_model().objects.get(username="madoguchi")
    assert user.is_staff and not user.is_superuser
    assert [g.name for g in user.groups.all()] == [roles.CLERK]
    validate_password(printed["password"], user=user)  # meets AUTH_PASSWORD_VALIDATORS
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed
    secret = printed["totp_secret"]
    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key

    client = Client()
    response = client.post(
        reverse("admin:login"),
        {
            "username": printed["username"],
            "password": printed["password"],
            "otp_token": _code(printed["totp_secret"]),
            "next": reverse("admin:index"),
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize(
    ("role", "group", "superuser"),
    [("supervisor", roles.SUPERVISOR, False), ("auditor", roles.AUDITOR, False), ("admin", None, True)],
)
def test_create_staff_puts_each_role_in_its_group(role, group, superuser):
    _create(f"user-{role}", role)
    user = get_user_model().objects.get(username=f"user-{role}")
    assert user.is_staff and user.is_superuser is superuser
    assert [g.name for g in user.groups.all()] == ([group] if group else [])


def test_create_staff_is_audited_without_the_password_or_the_secret():
    _lines, printed = _create("madoguchi", "supervisor")
    event = AuditEvent.objects.get(action="staff.created")
    assert event.actor_kind == AuditEvent.ActorKind.JOB and event.actor_id == "create_staff"
    user = get_user_model().objects.get(username="madoguchi")
    assert event.payload == {"user_id": user.pk, "username": "madoguchi", "role": "supervisor"}
    stored = json.dumps(event.payload)
    assert printed["password"] not in stored and printed["totp_secret"] not in stored


def test_create_staff_refuses_a_user_name_already_taken():
    _create("madoguchi", "clerk")
    before = get_user_model().objects.get(username="madoguchi")
    with pytest.raises(CommandError, match="already taken"):
        call_command("create_staff", username="madoguchi", role="admin", stdout=StringIO())
    after = get_user_model().objects.get(username="madoguchi")
    assert after.password == before.password and not after.is_superuser
    assert TOTPDevice.objects.filter(user=after).count() == 1
    assert AuditEvent.objects.filter(action="staff.created").count() == 1


def test_create_staff_refuses_an_unknown_role_and_a_bad_user_name():
    with pytest.raises(CommandError):
        call_command("create_staff", username="madoguchi", role="mayor", stdout=StringIO())
    with pytest.raises(CommandError, match="invalid user name"):
        call_command("create_staff", username="bad name!", role="clerk", stdout=StringIO())
    assert not get_user_model().objects.exists()


@pytest.mark.django_db(transaction=True)
def test_create_staff_exits_non_zero_with_a_clear_message_for_a_taken_name(capsys):
    """As an operator runs it: run_from_argv turns the refusal into exit status 1 and a message."""
    from staff.management.commands.create_staff import Command

    _create("madoguchi", "clerk")
    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "create_staff", "--username", "madoguchi", "--role", "clerk"])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert "既に使われています" in error and "already taken" in error
