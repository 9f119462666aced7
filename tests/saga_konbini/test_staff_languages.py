"""The staff's and the public's non-kiosk screens speak Japanese or English only: a resident's
language choice (the cookie the kiosk's language button sets) or a browser's Accept-Language in a
kiosk-only language gives them Japanese, or English when the browser lists English next."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import translation

from staff import roles

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def _language_restored() -> Iterator[None]:
    with translation.override(settings.LANGUAGE_CODE):
        yield


def _client(cookie: str | None = None, accept: str | None = None) -> Client:
    client = Client(headers={"Accept-Language": accept} if accept else None)
    if cookie:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = cookie
    return client


@pytest.mark.parametrize("path", [LOGIN, "/verify/"])
@pytest.mark.parametrize(
    ("cookie", "accept", "language"),
    [
        ("vi", None, "ja"),
        ("zh-hans", "zh-CN,zh;q=0.9", "ja"),
        ("ko", "ko-KR,en;q=0.5", "en"),
        (None, "pt-BR,pt;q=0.9,en;q=0.8", "en"),
        (None, "id", "ja"),
        ("en", "vi", "en"),  # a staff member's own choice of English stays
        ("ja", "en", "ja"),
    ],
)
def test_a_staff_or_public_screen_falls_back_to_japanese_or_english(path, cookie, accept, language):
    response = _client(cookie, accept).get(path)
    assert response.status_code == 200
    assert f'<html lang="{language}"' in response.content.decode()
    assert response["Content-Language"] == language


def test_the_language_switch_accepts_a_resident_language_for_the_kiosk():
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "vi", "next": "/verify/"})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "vi"
    assert '<html lang="ja"' in client.get("/verify/").content.decode()


def test_the_admins_language_switch_offers_japanese_and_english_only():
    user = get_user_model().objects.create_user("clerk-lang", password="x" * 12, is_staff=True)
    user.groups.set([roles.roles_ensure()[roles.CLERK]])
    client = _client(cookie="vi", accept="vi-VN")
    client.force_login(user)

    page = client.get(reverse("admin:index")).content.decode()

    assert '<html lang="ja"' in page and "業務メニュー" in page
    switch = page.split('id="language-select"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="([^"]+)"', switch) == ["ja", "en"]
