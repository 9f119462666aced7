"""The kiosk API's messages: Japanese by default (SPEC §3), English for a kiosk that asks for it with
Accept-Language, for that request only (the catalogue itself: tests/saga_konbini/test_i18n_catalogue.py)."""

from __future__ import annotations

import re
import uuid

import pytest
from django.conf import settings
from django.utils import translation

from kiosk_api.errors import ERRORS, HTTP_FALLBACK_CODES

pytestmark = pytest.mark.django_db
SESSIONS = "/api/kiosk/v1/sessions"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _messages() -> list[str]:
    return [str(spec.message) for spec in ERRORS.values()] + [
        str(message) for _code, message in HTTP_FALLBACK_CODES.values()
    ]


def test_every_message_is_japanese_by_default_and_has_an_english_text():
    japanese = _messages()
    assert all(JAPANESE.search(text) for text in japanese)
    with translation.override("en"):
        english = _messages()
    for source, text in zip(japanese, english, strict=True):
        assert text != source and text.isascii() and text.strip(), source


@pytest.mark.parametrize(
    ("header", "english"),
    [("", False), ("en", True), ("en-US,en;q=0.9,ja;q=0.5", True), ("fr, de", False), ("ja", False)],
)
def test_an_error_answers_in_the_language_the_kiosk_asks_for(anonymous, header, english):
    extra = {"HTTP_ACCEPT_LANGUAGE": header} if header else {}
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {uuid.uuid4().hex}")

    response = anonymous.post(SESSIONS, **extra)

    assert response.status_code == 401 and response.json()["error"]["code"] == "TERMINAL_UNAUTHORIZED"
    message = response.json()["error"]["message"]
    assert bool(JAPANESE.search(message)) is not english
    assert message == (
        "This terminal could not be authenticated. Please tell the store staff."
        if english
        else "端末の認証に失敗しました。店舗の係員にお知らせください。"
    )
    assert "Accept-Language" in response["Vary"]


def test_the_language_of_one_request_does_not_carry_over_to_the_next(anonymous, api):
    english = anonymous.get("/api/kiosk/v1/no-such-thing", HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 404 and english.json()["error"]["message"].isascii()

    # The next requests, without a language, in the same thread: Japanese again.
    japanese = anonymous.get("/api/kiosk/v1/no-such-thing")
    assert japanese.status_code == 404 and JAPANESE.search(japanese.json()["error"]["message"])
    assert translation.get_language() == settings.LANGUAGE_CODE
    started = api.post(SESSIONS, HTTP_ACCEPT_LANGUAGE="en")
    assert started.status_code == 201  # a successful call is unaffected by the language
