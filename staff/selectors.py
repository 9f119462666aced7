"""Reads about staff accounts' second factor (SPEC §9)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django_otp import devices_for_user


def staff_otp_required() -> bool:
    """Whether every staff sign-in needs a TOTP code (``STAFF_OTP_REQUIRED``)."""
    return bool(settings.STAFF_OTP_REQUIRED)


def staff_has_confirmed_device(*, user: Any) -> bool:
    return any(True for _device in devices_for_user(user, confirmed=True))
