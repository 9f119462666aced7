"""In a real browser: a new account's first sign-in with STAFF_OTP_REQUIRED on. The QR code on the
enrolment page is read back from a screenshot, as a phone's authenticator app would read it, and
the code computed from it opens the admin; the next sign-in takes the three fields of one form."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import time_machine
import zxingcpp
from django.contrib.auth import get_user_model
from django_otp.oath import totp
from PIL import Image
from playwright.sync_api import Page, expect

from staff import roles
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _code(secret: str) -> str:
    return f"{totp(base64.b32decode(secret + '=' * (-len(secret) % 8))):06d}"


def test_first_sign_in_enrols_by_qr_code_then_signs_in_with_the_code(
    live_server, page: Page, settings, shot
) -> None:
    settings.STAFF_OTP_REQUIRED = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = get_user_model().objects.create_user("madoguchi", password=PASSWORD, is_staff=True)
    user.groups.set([roles.roles_ensure()[roles.CLERK]])
    base = live_server.url

    page.goto(f"{base}/admin/")
    page.wait_for_url("**/admin/login/**")
    page.fill("#id_username", "madoguchi")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/otp/enrol/**")
    shot(page, "admin-otp-enrol")

    image = Image.open(io.BytesIO(page.locator("#otp-qr svg").screenshot()))
    decoded = [barcode.text for barcode in zxingcpp.read_barcodes(image)]
    assert len(decoded) == 1
    uri = urlparse(decoded[0])
    assert uri.scheme == "otpauth" and unquote(uri.path) == "/佐賀市コンビニ交付:madoguchi"
    secret = parse_qs(uri.query)["secret"][0]
    assert page.locator("#otp-secret").inner_text().replace(" ", "") == secret

    # Not yet enrolled: the admin is still closed.
    page.goto(f"{base}/admin/")
    page.wait_for_url("**/admin/login/**")
    page.goto(f"{base}/admin/otp/enrol/")
    page.fill("#id_otp_token", _code(secret))
    page.click("#otp-enrol-form input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    expect(page.locator("#site-name")).to_be_visible()

    # Signed out, the next sign-in needs the code of a later 30-second step (the first is spent).
    page.context.clear_cookies()
    with time_machine.travel(timedelta(seconds=31), tick=True):
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "madoguchi")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator(".errornote")).to_contain_text(
            "ユーザー名、パスワードまたは確認コードが正しくありません。"
        )
        page.fill("#id_password", PASSWORD)
        page.fill("#id_otp_token", _code(secret))
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
