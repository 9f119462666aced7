"""The browser kiosk (SPEC §9): its screens walk the real kiosk API over HTTP through the bridge.

The browser's side is Django's test client; the bridge calls the API on a live server (threaded),
exactly as in the demo where the browser kiosk and the API are the same server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from certificates.models import IssuanceRecord
from kiosk_api.models import KioskSession
from residents.models import Resident
from simulators.kiosk_browser import bridge
from tests.kiosk_api.cards import Pki
from tests.kiosk_api.live import card_file, distinct_holder, pdf_text

SIM = "kiosk_simulator"


def _insert_card(client, card: Path):
    return client.post(reverse(f"{SIM}:card"), {"card": card.name})


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_full_flow_prints_a_certificate_and_reminds_of_the_card(
    client, pki: Pki, cards, demo_terminal, live_api
):
    holder = distinct_holder(3)
    card = card_file(cards, pki.card(holder), holder)

    assert "行政サービス" in client.get(reverse(f"{SIM}:home")).content.decode()
    assert "証明書交付" in client.get(reverse(f"{SIM}:gyosei")).content.decode()
    listing = client.get(reverse(f"{SIM}:card")).content.decode()
    assert card.name in listing and "すべての証明書を交付できる" in listing

    assert _insert_card(client, card)["Location"] == reverse(f"{SIM}:pin")
    wrong = client.post(reverse(f"{SIM}:pin"), {"pin": "9999"})
    assert "あと2回" in wrong.content.decode()
    assert client.post(reverse(f"{SIM}:pin"), {"pin": "1234"})["Location"] == reverse(f"{SIM}:offers")
    assert json.loads(card.read_text(encoding="utf-8"))["pin_failures"] == 0  # the right PIN resets

    offers = client.get(reverse(f"{SIM}:offers")).content.decode()
    assert f"{holder.full_name} 様" in offers
    assert all(
        label in offers for label in ("住民票の写し", "印鑑登録証明書", "所得課税証明書", "納税証明書")
    )
    history = client.get(reverse(f"{SIM}:history")).content.decode()
    assert "コンビニ交付" in history

    spouse = Resident.objects.filter(household=holder.household).exclude(pk=holder.pk).get()
    options_page = client.get(reverse(f"{SIM}:options", args=["juminhyo"]))
    member_ref = next(
        m["member_ref"] for m in options_page.context["offer"]["members"] if m["name"] == spouse.full_name
    )
    chosen = client.post(
        reverse(f"{SIM}:options", args=["juminhyo"]),
        {"scope": "selected", "members": [member_ref], "show_relationship": "on", "copies": "2"},
    )
    assert chosen["Location"] == reverse(f"{SIM}:confirm")
    confirm = client.get(reverse(f"{SIM}:confirm")).content.decode()
    assert "400円" in confirm and spouse.full_name in confirm and "世帯主・続柄: 記載する" in confirm

    assert client.post(reverse(f"{SIM}:confirm"))["Location"] == reverse(f"{SIM}:printing")
    # A second tap on the same confirmation issues nothing more.
    client.post(reverse(f"{SIM}:confirm"))
    assert IssuanceRecord.objects.count() == 1
    printing = client.get(reverse(f"{SIM}:printing")).content.decode()
    assert 'src="/kiosk-simulator/document.pdf"' in printing
    pdf = client.get(reverse(f"{SIM}:document"))
    assert pdf["Content-Type"] == "application/pdf" and pdf["X-Frame-Options"] == "SAMEORIGIN"
    assert pdf.content.startswith(b"%PDF") and holder.family_name in pdf_text(pdf.content)

    done = client.post(reverse(f"{SIM}:complete"), {"outcome": "printed"}, follow=True).content.decode()
    assert "カードの取り忘れにご注意ください" in done
    record = IssuanceRecord.objects.get()
    assert (record.status, record.copies, record.fee_total) == ("printed", 2, 400)
    assert "ファミリーマート" in record.terminal_label
    assert KioskSession.objects.get().ended_at is not None
    assert "200円" not in client.get(reverse(f"{SIM}:done")).content.decode()
    assert "simulator" not in "".join(client.session.keys())  # the visit is forgotten
    assert client.get(reverse(f"{SIM}:offers"))["Location"] == reverse(f"{SIM}:home")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_failed_print_voids_and_unavailable_offers_are_greyed(
    client, pki: Pki, cards, demo_terminal, live_api
):
    holder = distinct_holder(4)
    holder.seal_registrations.all().delete()
    card = card_file(cards, pki.card(holder), holder)
    _insert_card(client, card)
    client.post(reverse(f"{SIM}:pin"), {"pin": "1234"})
    offers = client.get(reverse(f"{SIM}:offers")).content.decode()
    assert "印鑑登録がありません。" in offers
    assert reverse(f"{SIM}:options", args=["inkan"]) not in offers
    assert client.get(reverse(f"{SIM}:options", args=["inkan"]))["Location"] == reverse(f"{SIM}:offers")

    bad = client.post(reverse(f"{SIM}:options", args=["nozei"]), {"fiscal_year": "1999", "copies": "1"})
    assert "年度を選んでください。" in bad.content.decode()
    client.post(reverse(f"{SIM}:options", args=["nozei"]), {"fiscal_year": "2026", "copies": "1"})
    client.post(reverse(f"{SIM}:confirm"))
    done = client.post(reverse(f"{SIM}:complete"), {"outcome": "failed"}, follow=True)
    assert IssuanceRecord.objects.get().status == "voided"
    final = client.get(reverse(f"{SIM}:done")).content.decode()
    assert done.status_code == 200 and "手数料はかかりません" in final


@pytest.mark.django_db
def test_three_wrong_pins_lock_the_card_file(client, pki: Pki, cards, demo_terminal):
    holder = distinct_holder(5)
    card = card_file(cards, pki.card(holder), holder)
    _insert_card(client, card)
    assert "あと2回" in client.post(reverse(f"{SIM}:pin"), {"pin": "0000"}).content.decode()
    # Something that is not 4 digits never reaches the card: no try is counted.
    assert "数字4桁" in client.post(reverse(f"{SIM}:pin"), {"pin": "12a4"}).content.decode()
    assert json.loads(card.read_text(encoding="utf-8"))["pin_failures"] == 1
    assert "あと1回" in client.post(reverse(f"{SIM}:pin"), {"pin": "4321"}).content.decode()
    locked = client.post(reverse(f"{SIM}:pin"), {"pin": "1111"}).content.decode()
    assert "カードがロックされました" in locked
    assert json.loads(card.read_text(encoding="utf-8"))["locked"] is True
    assert not KioskSession.objects.exists()  # a wrong PIN never reaches the server
    _insert_card(client, card)
    again = client.post(reverse(f"{SIM}:pin"), {"pin": "1234"}).content.decode()
    assert "ロックされています" in again and not KioskSession.objects.exists()
    assert "ロック中" in client.get(reverse(f"{SIM}:card")).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["../terminal.json", "terminal.json", "ok-abc.json", "ok-abc.json/../../x"])
def test_only_demo_card_files_in_the_folder_can_be_read(client, cards, demo_terminal, name):
    response = client.post(reverse(f"{SIM}:card"), {"card": name})
    assert "カードを読み取れません" in response.content.decode()
    assert client.get(reverse(f"{SIM}:pin"))["Location"] == reverse(f"{SIM}:card")


@pytest.mark.django_db
def test_without_a_demo_terminal_the_kiosk_says_so(client, cards):
    response = client.get(reverse(f"{SIM}:card"))
    assert "この端末は登録されていません" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/kiosk-simulator/",
        "/kiosk-simulator/card/",
        "/kiosk-simulator/pin/",
        "/kiosk-simulator/offers/",
        "/kiosk-simulator/document.pdf",
        "/kiosk-simulator/assets/kiosk.css",
    ],
)
def test_everything_is_404_when_the_simulator_is_off(client, settings, path):
    assert client.get(path).status_code != 404
    settings.KIOSK_SIMULATOR_ENABLED = False
    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404


@pytest.mark.django_db
def test_assets_are_served_and_unknown_ones_are_not(client):
    css = client.get("/kiosk-simulator/assets/kiosk.css")
    assert css.status_code == 200 and css["Content-Type"].startswith("text/css")
    assert client.get("/kiosk-simulator/assets/settings.py").status_code == 404


def test_demo_cards_are_listed_by_scenario_ok_first(cards):
    def write(name: str, holder: str, **extra: object) -> None:
        content = {"format": "saga-konbini-card/1", "holder": {"name": holder}, "pin": "0420", **extra}
        (cards / name).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")

    write("support_measure-SAGA-00000001.json", "佐賀　花子")
    write("ok-SAGA-00000003.json", "佐賀　次郎", locked=True)
    write("ok-SAGA-00000002.json", "佐賀　太郎")
    write("ok-SAGA-00000004.json", "佐賀　三郎")
    (cards / "terminal.json").write_text("{}", encoding="utf-8")
    (cards / "notes.txt").write_text("-", encoding="utf-8")
    (cards / "other-SAGA-9.json").write_text("not json", encoding="utf-8")

    listed = bridge.demo_cards_list(per_scenario=2)
    assert [(scenario, label) for scenario, label, _ in listed] == [
        ("ok", "すべての証明書を交付できる"),
        ("support_measure", "支援措置対象"),
    ]
    ok_cards = listed[0][2]
    assert [(c.file_name, c.holder_name, c.locked) for c in ok_cards] == [
        ("ok-SAGA-00000002.json", "佐賀　太郎", False),
        ("ok-SAGA-00000003.json", "佐賀　次郎", True),
    ]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_card_without_a_link_gets_the_servers_message(client, pki: Pki, cards, demo_terminal, live_api):
    holder = distinct_holder(7)
    card = card_file(cards, pki.card(holder, link=False), holder)
    _insert_card(client, card)
    refused = client.post(reverse(f"{SIM}:pin"), {"pin": "1234"}).content.decode()
    assert "CARD_NOT_REGISTERED" in refused
    assert KioskSession.objects.get().ended_at is not None  # the bridge closed the API session
    assert client.get(reverse(f"{SIM}:offers"))["Location"] == reverse(f"{SIM}:home")


def test_the_kiosk_asks_card_or_smartphone_and_lists_the_files_of_that_kind(client, cards, demo_terminal):
    def write(name: str, holder: str, **extra: object) -> None:
        content = {"format": "saga-konbini-card/1", "holder": {"name": holder}, "pin": "0420", **extra}
        (cards / name).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")

    write("ok-SAGA-00000001.json", "佐賀　太郎")  # no "credential": a card
    write("smartphone_ok-SAGA-00000002.json", "佐賀　太郎", credential="smartphone")
    write("other-SAGA-00000003.json", "佐賀　花子", credential="card")
    write("other-SAGA-00000004.json", "佐賀　次郎", credential="smartphone")

    gyosei = client.get(reverse(f"{SIM}:gyosei")).content.decode()
    assert reverse(f"{SIM}:credential") in gyosei
    choice = client.get(reverse(f"{SIM}:credential")).content.decode()
    assert "マイナンバーカード" in choice and "スマートフォン" in choice
    phones = client.get(reverse(f"{SIM}:card"), {"credential": "smartphone"}).content.decode()
    assert "スマートフォンを読み取り部にかざしてください" in phones
    assert "smartphone_ok-SAGA-00000002.json" in phones and "other-SAGA-00000004.json" in phones
    assert "ok-SAGA-00000001.json" not in phones and "other-SAGA-00000003.json" not in phones
    assert "スマートフォンで交付できる" in phones
    card_list = client.get(reverse(f"{SIM}:card"), {"credential": "card"}).content.decode()
    assert "ok-SAGA-00000001.json" in card_list and "other-SAGA-00000003.json" in card_list
    assert "smartphone_ok-SAGA-00000002.json" not in card_list

    # A phone's file held to the reader after choosing the card is refused before any PIN.
    wrong = client.post(
        reverse(f"{SIM}:card"), {"card": "smartphone_ok-SAGA-00000002.json", "credential": "card"}
    )
    assert (
        wrong.status_code == 200 and "マイナンバーカードを選んでやり直してください" in wrong.content.decode()
    )
    assert client.get(reverse(f"{SIM}:pin"))["Location"] == reverse(f"{SIM}:card")
    right = client.post(
        reverse(f"{SIM}:card"), {"card": "smartphone_ok-SAGA-00000002.json", "credential": "smartphone"}
    )
    assert right["Location"] == reverse(f"{SIM}:pin")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_smartphone_signs_in_and_its_history_names_the_phone(
    client, pki: Pki, cards, demo_terminal, live_api
):
    holder = distinct_holder(8)
    phone = card_file(cards, pki.card(holder, credential="smartphone"), holder, credential="smartphone")
    client.post(reverse(f"{SIM}:card"), {"card": phone.name, "credential": "smartphone"})
    assert client.post(reverse(f"{SIM}:pin"), {"pin": "1234"})["Location"] == reverse(f"{SIM}:offers")
    assert f"{holder.full_name} 様" in client.get(reverse(f"{SIM}:offers")).content.decode()
    assert "スマートフォンによる本人確認" in client.get(reverse(f"{SIM}:history")).content.decode()
