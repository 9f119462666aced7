"""The public screens in English (the web kiosk simulator and /verify/): Japanese by default, English
with the language cookie or Accept-Language, and nothing Japanese left on an English screen but the
data it shows (names, the language switch's own 日本語)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from audit.services import Actor
from certificates.errors import REFUSAL_MESSAGES, CertificateRefused
from certificates.lifecycle import issuance_void
from certificates.models import IssuedCertificateNumber
from residents.models import Resident
from tests.certificates import test_verify as verify_fixtures
from tests.kiosk_api import conftest as kiosk_fixtures
from tests.kiosk_api.live import card_file, distinct_holder

# The kiosk API's fixtures (test PKI, signing and document keys, and the clock frozen on a weekday
# morning: the API's service hours, and "now" for /verify/ just after the test certificate's issue).
_pki_master = kiosk_fixtures._pki_master
key_pool = kiosk_fixtures.key_pool
pki = kiosk_fixtures.pki
_frozen_clock = kiosk_fixtures._frozen_clock
_kiosk_settings = kiosk_fixtures._kiosk_settings
# The web simulator's: its cards folder, the demo terminal's token file, the API on a live server.
cards = kiosk_fixtures.cards
demo_terminal = kiosk_fixtures.demo_terminal
live_api = kiosk_fixtures.live_api
# /verify/'s: an 印鑑登録証明書 issued on the frozen clock's day.
issued = verify_fixtures.issued


def _number_and_code(result: Any) -> tuple[str, str]:
    number = result.certificate_numbers[0]
    return number, IssuedCertificateNumber.objects.get(number=number).check_code


SIM = "kiosk_simulator"
VERIFY = "/verify/"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# The language switch names each language in that language: 日本語 stays 日本語 on an English screen
# (and the kiosk's 中文(简体) its own script).
LANGUAGE_SWITCH = re.compile(
    r'<button type="submit" name="language" value="([^"]+)" lang="\1"[^>]*>[^<]*</button>'
)


@pytest.fixture(autouse=True)
def _language_restored() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in the thread: back to Japanese
    after each test, or the next test on this worker would run in English."""
    with translation.override(settings.LANGUAGE_CODE):
        yield


def _english_client(how: str) -> Client:
    if how == "cookie":
        client = Client()
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _leftover_japanese(html: str, *data: object) -> list[str]:
    """The Japanese left in ``html`` once the data values and the language switch are taken out."""
    text = LANGUAGE_SWITCH.sub("", html)
    for value in sorted((str(v) for v in data if v), key=len, reverse=True):
        text = text.replace(value, "")
    return [line.strip() for line in text.splitlines() if JAPANESE.search(line)]


def _page(response: Any) -> str:
    assert response.status_code in (200, 400, 429), response.status_code
    return str(response.content.decode())


def _assert_english(response: Any, *data: object) -> str:
    html = _page(response)
    assert '<html lang="en">' in html
    assert _leftover_japanese(html, *data) == []
    return html


def _assert_japanese(response: Any) -> str:
    html = _page(response)
    assert '<html lang="ja">' in html
    return html


# --- the kiosk simulator -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["home", "gyosei"])
def test_the_menus_are_japanese_by_default_and_english_on_request(name):
    japanese = _assert_japanese(Client().get(reverse(f"{SIM}:{name}")))
    assert "行政サービス" in japanese
    for how in ("cookie", "header"):
        english = _assert_english(_english_client(how).get(reverse(f"{SIM}:{name}")))
        assert "Government services" in english


@pytest.mark.django_db
def test_the_language_switch_is_on_the_first_screen_and_sets_the_language():
    home = reverse(f"{SIM}:home")
    client = Client()
    page = _assert_japanese(client.get(home))
    switch = page.split('class="language"', 1)[1].split("</form>", 1)[0]
    assert f'name="next" value="{home}"' in switch and "csrfmiddlewaretoken" in switch
    assert 'value="ja"' in switch and 'value="en"' in switch and "English" in switch

    response = client.post(reverse("set_language"), {"language": "en", "next": home})
    assert response.status_code == 302 and response["Location"] == home
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    _assert_english(client.get(home))
    client.post(reverse("set_language"), {"language": "ja", "next": home})
    _assert_japanese(client.get(home))


@pytest.mark.django_db
def test_card_pin_and_card_errors_in_english(pki, cards, demo_terminal):
    holder = distinct_holder(8)
    card = card_file(cards, pki.card(holder), holder)
    client = _english_client("cookie")

    listing = _assert_english(client.get(reverse(f"{SIM}:card")), holder.full_name)
    assert "All certificates can be issued" in listing and "PIN 1234" in listing

    client.post(reverse(f"{SIM}:card"), {"card": card.name})
    _assert_english(client.get(reverse(f"{SIM}:pin")))
    short = _assert_english(client.post(reverse(f"{SIM}:pin"), {"pin": "12a4"}))
    assert "Please enter the PIN as 4 digits." in short
    wrong = _assert_english(client.post(reverse(f"{SIM}:pin"), {"pin": "9999"}))
    assert "2 more wrong PINs will lock the card." in wrong
    wrong = _assert_english(client.post(reverse(f"{SIM}:pin"), {"pin": "9998"}))
    assert "1 more wrong PIN will lock the card." in wrong
    locked = _assert_english(client.post(reverse(f"{SIM}:pin"), {"pin": "9997"}))
    assert "the card has been locked" in locked and "CARD_LOCKED" in locked
    unreadable = _assert_english(client.post(reverse(f"{SIM}:card"), {"card": "../terminal.json"}))
    assert "The card cannot be read." in unreadable

    japanese = Client().post(reverse(f"{SIM}:card"), {"card": "../terminal.json"})
    assert "カードを読み取れません" in _assert_japanese(japanese)


@pytest.mark.django_db
def test_without_a_demo_terminal_the_english_kiosk_says_so(cards):
    page = _assert_english(_english_client("header").get(reverse(f"{SIM}:card")))
    assert "This terminal is not registered" in page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_english_api_errors_reach_the_english_screen_only(pki, cards, demo_terminal, live_api):
    holder = distinct_holder(9)
    card = card_file(cards, pki.card(holder, link=False), holder)
    english, japanese = _english_client("cookie"), Client()
    for client in (english, japanese):
        client.post(reverse(f"{SIM}:card"), {"card": card.name})

    refused = _assert_english(english.post(reverse(f"{SIM}:pin"), {"pin": "1234"}))
    assert "CARD_NOT_REGISTERED" in refused
    assert "This card is not registered for Saga City&#x27;s convenience-store service." in refused
    # The next request, in Japanese, gets the API's Japanese message: nothing of the first carries over.
    refused = _assert_japanese(japanese.post(reverse(f"{SIM}:pin"), {"pin": "1234"}))
    assert "このカードは佐賀市のコンビニ交付に登録されていません。" in refused


def _walk(client: Client, cards: Path, card: Path) -> dict[str, Any]:
    """Every screen of one visit, from the menu to the end, as responses by screen name."""
    screens: dict[str, Any] = {
        "home": client.get(reverse(f"{SIM}:home")),
        "gyosei": client.get(reverse(f"{SIM}:gyosei")),
        "card": client.get(reverse(f"{SIM}:card")),
    }
    client.post(reverse(f"{SIM}:card"), {"card": card.name})
    screens["pin"] = client.get(reverse(f"{SIM}:pin"))
    assert client.post(reverse(f"{SIM}:pin"), {"pin": "1234"})["Location"] == reverse(f"{SIM}:offers")
    screens["offers"] = client.get(reverse(f"{SIM}:offers"))
    screens["history"] = client.get(reverse(f"{SIM}:history"))
    screens["options_nozei"] = client.get(reverse(f"{SIM}:options", args=["nozei"]))
    screens["options_bad_year"] = client.post(
        reverse(f"{SIM}:options", args=["nozei"]), {"fiscal_year": "1999", "copies": "1"}
    )
    screens["options"] = client.get(reverse(f"{SIM}:options", args=["juminhyo"]))
    member_ref = screens["options"].context["offer"]["members"][0]["member_ref"]
    chosen = {"scope": "selected", "members": [member_ref], "show_relationship": "on", "copies": "2"}
    client.post(reverse(f"{SIM}:options", args=["juminhyo"]), chosen)
    screens["confirm"] = client.get(reverse(f"{SIM}:confirm"))
    client.post(reverse(f"{SIM}:confirm"))
    screens["printing"] = client.get(reverse(f"{SIM}:printing"))
    client.post(reverse(f"{SIM}:complete"), {"outcome": "printed"})
    screens["remove_card"] = client.get(reverse(f"{SIM}:remove_card"))
    screens["done"] = client.get(reverse(f"{SIM}:done"))
    return screens


def _household_names(holder: Resident) -> list[str]:
    return [r.full_name for r in Resident.objects.filter(household=holder.household)]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_screen_of_a_visit_is_japanese_by_default(pki, cards, demo_terminal, live_api):
    holder = distinct_holder(10)
    screens = _walk(Client(), cards, card_file(cards, pki.card(holder), holder))
    for name, response in screens.items():
        html = _assert_japanese(response)
        assert "マルチコピー機" in html, name
    assert "所得課税証明書" in _page(screens["offers"])
    assert "世帯主・続柄: 記載する" in _page(screens["confirm"])
    assert "2通" in _page(screens["confirm"]) and "400円" in _page(screens["confirm"])
    assert "年度を選んでください。" in _page(screens["options_bad_year"])
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", _page(screens["history"]))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_screen_of_a_visit_is_english_with_the_cookie(pki, cards, demo_terminal, live_api):
    holder = distinct_holder(11)
    screens = _walk(_english_client("cookie"), cards, card_file(cards, pki.card(holder), holder))
    entries = screens["history"].context["entries"]
    assert entries  # the card reading at least
    api_data = [value for entry in entries for value in (entry["accessor"], entry["action"])]
    for name, response in screens.items():
        html = _assert_english(response, *_household_names(holder), *api_data)
        assert "Multi-copy machine" in html, name
    offers = _page(screens["offers"])
    assert all(
        label in offers
        for label in (
            "Certificate of residence",
            "Seal registration certificate",
            "Income and taxation certificate",
            "Tax payment certificate",
        )
    )
    confirm = _page(screens["confirm"])
    assert "Head of household and relationship: Shown" in confirm and "Persons shown: " in confirm
    assert "2 copies" in confirm and "¥400" in confirm
    assert "Please choose the fiscal year." in _page(screens["options_bad_year"])
    assert "FY2026" in _page(screens["options_nozei"])
    assert "Copies (¥200 per copy)" in _page(screens["options"])
    assert "Printing: Certificate of residence, 2 copies" in _page(screens["printing"])
    assert "You have paid a fee of ¥400 (demo)." in _page(screens["done"])
    assert re.search(r"\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d", _page(screens["history"]))


# --- /verify/ -----------------------------------------------------------------------------------------


def _lookup(client: Client, number: str, code: str) -> Any:
    return client.post(VERIFY, {"number": number, "check_code": code}, REMOTE_ADDR="203.0.113.9")


def _type_label(response: Any) -> str:
    # The certificate type's name comes from certificates/models.py (translated there).
    return str(response.context["answer"].cert_type_label)


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["cookie", "header"])
def test_the_verify_page_in_english(issued, how):
    result = issued
    number, code = _number_and_code(result)
    client = _english_client(how)
    form = _assert_english(client.get(VERIFY))
    assert "Certificate number" in form and "Check code" in form and "Verify" in form

    valid = _lookup(client, number, code)
    html = _assert_english(valid, _type_label(valid))
    assert "Valid" in html and "was issued by Saga City" in html and "26 November 2026" in html

    unknown = _assert_english(_lookup(client, number, "XXXXXXXX"))
    assert "Not found" in unknown and "within the last 90 days" in unknown

    issuance_void(issuance_id=result.issuance.pk, reason="test", actor=Actor.job("test"))
    voided = _lookup(client, number, code)
    assert "Invalid" in _assert_english(voided, _type_label(voided))

    missing = client.post(VERIFY, {"number": "", "check_code": ""}, REMOTE_ADDR="203.0.113.9")
    assert missing.status_code == 400
    _assert_english(missing)


@pytest.mark.django_db
def test_the_verify_page_is_japanese_by_default(issued):
    number, code = _number_and_code(issued)
    form = _assert_japanese(Client().get(VERIFY))
    assert "交付番号" in form and "照合コード" in form and "照合する" in form
    assert 'name="next" value="/verify/"' in form and 'value="en"' in form
    valid = _assert_japanese(_lookup(Client(), number, code))
    assert "有効" in valid and "2026年11月26日" in valid
    unknown = _assert_japanese(_lookup(Client(), number, "XXXXXXXX"))
    assert "該当なし" in unknown and "交付から90日以内" in unknown


@pytest.mark.django_db
def test_the_rate_limited_page_in_both_languages(settings):
    settings.VERIFY_RATE_LIMIT_PER_MINUTE = 0
    data = {"number": "41201-2026-00000001", "check_code": "ABCDEFGH"}
    japanese = Client().post(VERIFY, data, REMOTE_ADDR="203.0.113.10")
    assert japanese.status_code == 429 and "照合の回数が多すぎます" in _assert_japanese(japanese)
    english = _english_client("cookie").post(VERIFY, data, REMOTE_ADDR="203.0.113.11")
    assert english.status_code == 429 and "Too many verification attempts" in _assert_english(english)


# --- refusal messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(REFUSAL_MESSAGES))
def test_refusal_messages_are_japanese_by_default_and_english_under_translation(code):
    refused = CertificateRefused(code, "reason")
    with translation.override(settings.LANGUAGE_CODE):
        japanese = refused.message
        assert JAPANESE.search(japanese) and str(refused) == japanese
    with translation.override("en"):
        assert refused.message.isascii() and refused.message.strip()
        assert str(refused) == refused.message
