"""The kiosk API in the languages of Saga's foreign residents, through HTTP: the messages by
Accept-Language, the same codes in every language, and each offer's certificate name in the screen's
language (the certificate itself stays Japanese)."""

from __future__ import annotations

import re
import uuid

import pytest
from django.conf import settings
from django.utils import translation
from rest_framework.test import APIClient

from certificates.models import CertType
from kiosk_api.errors import ERRORS, HTTP_FALLBACK_CODES
from tests.kiosk_api.cards import BASE, authenticate, ok_holder, signed_in

pytestmark = pytest.mark.django_db
KANA = re.compile(r"[\u3040-\u30ff]")
KANA_OR_KANJI = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# What a kiosk's screen shows when its terminal is refused, in each language.
UNAUTHORIZED = {
    "zh-hans": "终端认证失败。请告知店员。",
    "ko": "단말기 인증에 실패했습니다. 점원에게 알려 주십시오.",
    "vi": "Không thể xác thực thiết bị đầu cuối. Vui lòng báo cho nhân viên cửa hàng.",
    "pt-br": "Não foi possível autenticar este terminal. Avise os funcionários da loja.",
    "id": "Terminal ini tidak dapat diautentikasi. Harap beri tahu petugas toko.",
}
# The certificates' names after docs/glossary.md, in the SPEC's order.
LABELS = {
    "ja": ["住民票の写し", "印鑑登録証明書", "所得課税証明書", "納税証明書"],
    "en": [
        "Certificate of residence",
        "Seal registration certificate",
        "Income and taxation certificate",
        "Tax payment certificate",
    ],
    "zh-hans": ["住民票副本", "印章登记证明书", "所得课税证明书", "纳税证明书"],
    "ko": ["주민표 사본", "인감등록증명서", "소득과세증명서", "납세증명서"],
    "vi": [
        "Bản sao phiếu cư trú (Juminhyo)",
        "Giấy chứng nhận đăng ký con dấu",
        "Giấy chứng nhận thu nhập và thuế",
        "Giấy chứng nhận nộp thuế",
    ],
    "pt-br": [
        "Cópia do registro de residência (Juminhyo)",
        "Certificado de registro de carimbo (inkan)",
        "Certificado de renda e tributação",
        "Certificado de pagamento de impostos",
    ],
    "id": [
        "Salinan surat keterangan domisili (Juminhyo)",
        "Surat keterangan pendaftaran stempel (inkan)",
        "Surat keterangan penghasilan dan pajak",
        "Surat keterangan pembayaran pajak",
    ],
}
RESIDENT_LANGUAGES = list(UNAUTHORIZED)


def _kiosk_speaking(language: str, terminal_and_token: tuple[object, str]) -> APIClient:
    """A kiosk set to ``language``: every call asks for it."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {terminal_and_token[1]}", HTTP_ACCEPT_LANGUAGE=language)
    return client


def _untranslated(language: str, text: str) -> bool:
    """Japanese left in a text: kana in any language, kanji too but in Chinese."""
    return bool((KANA if language == "zh-hans" else KANA_OR_KANJI).search(text))


def test_the_resident_languages_are_the_sites_languages_but_japanese_and_english():
    assert [code for code, _name in settings.LANGUAGES] == ["ja", "en", *RESIDENT_LANGUAGES]


@pytest.mark.parametrize("language", RESIDENT_LANGUAGES)
def test_every_message_has_a_text_in_every_language(language):
    sources = [spec.message for spec in ERRORS.values()] + [m for _c, m in HTTP_FALLBACK_CODES.values()]
    with translation.override(language):
        texts = [str(message) for message in sources]
    with translation.override("ja"):
        japanese = [str(message) for message in sources]
    for source, text in zip(japanese, texts, strict=True):
        assert text.strip() and text != source and not _untranslated(language, text), source
    assert len(set(texts)) == len(set(japanese))  # no two messages merged into one text


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-hans", "zh-hans"),
        ("zh-CN,zh;q=0.9", "zh-hans"),
        ("zh", "zh-hans"),
        ("ko-KR", "ko"),
        ("vi-VN,vi;q=0.9,en;q=0.5", "vi"),
        ("pt-BR", "pt-br"),
        ("pt", "pt-br"),
        ("id-ID", "id"),
        ("fr, id;q=0.8", "id"),
    ],
)
def test_an_error_answers_in_the_language_the_kiosk_asks_for(anonymous, header, language):
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {uuid.uuid4().hex}")

    response = anonymous.post(f"{BASE}sessions", HTTP_ACCEPT_LANGUAGE=header)

    assert response.status_code == 401
    assert response.json()["error"] == {"code": "TERMINAL_UNAUTHORIZED", "message": UNAUTHORIZED[language]}
    assert "Accept-Language" in response["Vary"]
    assert response["Content-Language"] == language


@pytest.mark.parametrize("language", RESIDENT_LANGUAGES)
def test_api_path_errors_and_a_card_refusal_in_each_language(terminal_and_token, anonymous, pki, language):
    api = _kiosk_speaking(language, terminal_and_token)
    unknown = anonymous.get(f"{BASE}no-such-thing", HTTP_ACCEPT_LANGUAGE=language)
    malformed = api.post(
        f"{BASE}sessions/{uuid.uuid4()}/authenticate",
        data="{not json",
        content_type="application/json",
    )
    holder = ok_holder()
    unlinked = authenticate(api, pki.card(holder, link=False))

    for response, status, code in (
        (unknown, 404, "NOT_FOUND"),
        (malformed, 422, "INVALID_REQUEST"),
        (unlinked, 403, "CARD_NOT_REGISTERED"),
    ):
        error = response.json()["error"]
        assert (response.status_code, error["code"]) == (status, code)
        assert error["message"].strip() and not _untranslated(language, error["message"]), error
    with translation.override(language):
        assert unlinked.json()["error"]["message"] == str(ERRORS["CARD_NOT_REGISTERED"].message)


@pytest.mark.parametrize("language", list(LABELS))
def test_each_offer_names_its_certificate_in_the_screens_language(terminal_and_token, pki, language):
    api = _kiosk_speaking(language, terminal_and_token)

    _session_id, body = signed_in(api, pki.card(ok_holder()))

    offers = body["offers"]
    assert [offer["type"] for offer in offers] == list(CertType.values)
    assert [offer["label_local"] for offer in offers] == LABELS[language]
    assert all(offer["available"] for offer in offers)


def test_without_a_language_the_offers_local_name_is_the_japanese_one(api, pki):
    _session_id, body = signed_in(api, pki.card(ok_holder()))
    assert [offer["label_local"] for offer in body["offers"]] == LABELS["ja"]


def test_the_offer_labels_are_the_certificate_types_names():
    with translation.override("ja"):
        assert [str(label) for label in CertType.labels] == LABELS["ja"]
