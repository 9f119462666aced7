"""In a real browser: one walk of the kiosk per language, chosen with the language button on its
first screen, from the menu to the end; on every screen the language buttons are there and, in a
foreign language, nothing Japanese is left but the resident's own name (data) and the language
buttons' names. The certificate (the PDF in the printing screen's frame) stays Japanese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from certificates.models import IssuanceRecord
from residents.models import Resident
from tests.kiosk_api.cards import Pki
from tests.kiosk_api.live import card_file, distinct_holder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
KANA = re.compile(r"[\u3040-\u30ff]")
KANA_OR_KANJI = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# The seal registration certificate's name on the offers screen (docs/glossary.md).
SEAL_CERTIFICATE = {
    "ja": "印鑑登録証明書",
    "en": "Seal registration certificate",
    "zh-hans": "印章登记证明书",
    "ko": "인감등록증명서",
    "vi": "Giấy chứng nhận đăng ký con dấu",
    "pt-br": "Certificado de registro de carimbo (inkan)",
    "id": "Surat keterangan pendaftaran stempel (inkan)",
}
# Everything a resident reads on a screen: its title, its text, and the texts of its attributes
# (buttons' labels for screen readers, the frame's title); not the language buttons, which name
# each language in its own script by design.
SCREEN_TEXT = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll("form.language").forEach((form) => form.remove());
  const attributes = [...document.querySelectorAll("[title], [aria-label], [alt], [placeholder]")]
    .filter((element) => !element.closest("form.language"))
    .flatMap((element) => ["title", "aria-label", "alt", "placeholder"].map((a) => element.getAttribute(a)))
    .filter(Boolean);
  return [document.title, body.textContent, ...attributes].join("\\n");
}"""


def _untranslated(page: Page, language: str, data: list[str]) -> list[str]:
    """The lines of the screen that still hold Japanese, once the resident's data is taken out."""
    text = page.evaluate(SCREEN_TEXT)
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, "")
    script = KANA if language == "zh-hans" else KANA_OR_KANJI
    return [line.strip() for line in text.splitlines() if script.search(line)]


def _check_screen(page: Page, language: str, data: list[str], screens: list[str]) -> None:
    expect(page.locator("html")).to_have_attribute("lang", language)
    buttons = page.locator("form.language button")
    expect(buttons).to_have_count(len(settings.LANGUAGES))
    expect(page.locator("form.language button[aria-current]")).to_have_attribute("value", language)
    if language != "ja":
        assert _untranslated(page, language, data) == [], page.url
    screens.append(page.url)


@pytest.mark.parametrize("language", [code for code, _name in settings.LANGUAGES])
def test_one_walk_of_the_kiosk_in_each_language(
    page: Page, live_server, pki: Pki, cards: Path, shot, language
):
    holder = distinct_holder(7)
    card = card_file(cards, pki.card(holder), holder)
    data = [r.full_name for r in Resident.objects.filter(household=holder.household)]
    screens: list[str] = []

    page.goto(f"{live_server.url}/kiosk-simulator/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")  # a Japanese kiosk until asked
    page.click(f"form.language button[value='{language}']")
    _check_screen(page, language, data, screens)  # the menu
    page.click("a.tile-main")
    _check_screen(page, language, data, screens)  # government services
    page.click("a.tile-main")
    _check_screen(page, language, data, screens)  # マイナンバーカード or スマートフォン
    page.click("[data-credential=card]")
    _check_screen(page, language, data, screens)  # the card reader
    page.click(f"button[value='{card.name}']")
    _check_screen(page, language, data, screens)  # the PIN pad
    page.click("[data-digit='9']")
    page.click(".key-ok")
    expect(page.locator("#pin-short")).to_be_visible()  # the script's own warning, translated too
    _check_screen(page, language, data, screens)
    page.click("[data-clear]")
    for digit in "1234":
        page.click(f"[data-digit='{digit}']")
    page.click(".key-ok")
    page.wait_for_url("**/kiosk-simulator/offers/")
    _check_screen(page, language, data, screens)  # the offers
    expect(page.locator("[data-type=inkan] .offer-name")).to_have_text(SEAL_CERTIFICATE[language])
    shot(page, f"kiosk-{language}")
    page.click("a[href$='/history/']")
    _check_screen(page, language, data, screens)  # the access history, the API's labels translated
    page.click("a.btn-go")
    page.click("[data-type=inkan]")
    _check_screen(page, language, data, screens)  # the options
    page.click("[data-step='1']")
    page.click("form.options button[type=submit]")
    _check_screen(page, language, data, screens)  # the confirmation
    page.click("form.actions button[type=submit]")
    page.wait_for_url("**/kiosk-simulator/printing/", wait_until="domcontentloaded")
    _check_screen(page, language, data, screens)  # printing (the certificate in its frame)
    page.click("button[value=printed]")
    _check_screen(page, language, data, screens)  # take your card
    page.click("a.btn-go")
    _check_screen(page, language, data, screens)  # thank you

    assert len(screens) == 13
    record = IssuanceRecord.objects.get()
    assert (record.cert_type, record.status, record.copies) == ("inkan", "printed", 2)
