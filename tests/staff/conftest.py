"""Staff personas with and without a TOTP device, and codes computed as an authenticator app would."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff import roles

PASSWORD = "staff-test-password-1"


@pytest.fixture(autouse=True)
def _fast_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username: str, role: str | None, *, device: bool = True) -> Any:
    """A staff member in ``role`` (None: a システム管理者, superuser), with a confirmed device or not."""
    user = get_user_model().objects.create_user(
        username, password=PASSWORD, is_staff=True, is_superuser=role is None
    )
    if role is not None:
        user.groups.set([roles.roles_ensure()[role]])
    if device:
        TOTPDevice.objects.create(user=user, name="TOTP", confirmed=True)
    return user


def device_of(user: Any) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=True)


def code_now(device: TOTPDevice) -> str:
    """The code the authenticator app shows now (RFC 6238: six digits, 30-second steps)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def sign_in(client: Client, username: str, *, password: str = PASSWORD, code: str = "", **extra: Any) -> Any:
    """POST the real login form of the admin (the page /audit/ sends people to)."""
    data = {"username": username, "password": password, "otp_token": code, "next": reverse("admin:index")}
    return client.post(reverse("admin:login"), data, **extra)


@pytest.fixture
def otp_required(settings) -> None:
    settings.STAFF_OTP_REQUIRED = True


@pytest.fixture
def otp_optional(settings) -> None:
    settings.STAFF_OTP_REQUIRED = False
