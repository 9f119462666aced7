"""Deploy checks: production with staff codes turned off is allowed, but never silently; staff
sessions must be kept where a second-factor reset can end them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


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


@register(Tags.security)
def staff_sessions_in_the_database(app_configs: Any, **kwargs: Any) -> list[Error]:
    # A second-factor reset ends the account's sessions by finding them in the database; with
    # sessions kept elsewhere it could not, and an old session could enrol a new device.
    from staff.services import DATABASE_SESSION_ENGINES

    if settings.SESSION_ENGINE not in DATABASE_SESSION_ENGINES:
        return [
            Error(
                f"SESSION_ENGINE {settings.SESSION_ENGINE!r} does not keep sessions in the database.",
                hint="Use django.contrib.sessions.backends.db or cached_db.",
                id="staff.E001",
            )
        ]
    return []
