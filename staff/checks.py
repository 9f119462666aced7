"""A deploy check: production with staff codes turned off is allowed, but never silently."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def staff_otp_required_in_production(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if settings.PRODUCTION and not settings.STAFF_OTP_REQUIRED:
        return [
            Warning(
                "STAFF_OTP_REQUIRED is off in production: staff sign in with a password alone.",
                hint="Unset STAFF_OTP_REQUIRED (it defaults to on in production) or set it to 1.",
                id="staff.W001",
            )
        ]
    return []
