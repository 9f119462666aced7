"""Reads about staff accounts' second factor (SPEC §9)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django_otp import devices_for_user


def staff_otp_required() -> bool:
    """Whether every staff sign-in needs a TOTP code (``STAFF_OTP_REQUIRED``)."""
    return bool(settings.STAFF_OTP_REQUIRED)


def staff_has_confirmed_device(*, user: Any) -> bool:
    return any(True for _device in devices_for_user(user, confirmed=True))


def staff_user_named(*, username: str) -> Any | None:
    """The staff account with this user name, or None (inactive and non-staff accounts too)."""
    return get_user_model().objects.filter(username=username, is_staff=True).first()
