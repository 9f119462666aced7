"""`check --deploy` warns when production runs with staff codes turned off."""

from __future__ import annotations

from staff.checks import staff_otp_required_in_production


def test_production_without_staff_codes_is_a_deploy_warning(settings):
    settings.PRODUCTION = True
    settings.STAFF_OTP_REQUIRED = False
    assert [w.id for w in staff_otp_required_in_production(None)] == ["staff.W001"]
    settings.STAFF_OTP_REQUIRED = True
    assert staff_otp_required_in_production(None) == []


def test_development_without_staff_codes_is_fine(settings):
    settings.PRODUCTION = False
    settings.STAFF_OTP_REQUIRED = False
    assert staff_otp_required_in_production(None) == []


def test_sessions_outside_the_database_are_an_error(settings):
    from staff.checks import staff_sessions_in_the_database

    assert staff_sessions_in_the_database(None) == []
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    assert [e.id for e in staff_sessions_in_the_database(None)] == ["staff.E001"]
