"""In a real browser: a full kiosk flow to a PDF; a supervisor voids that certificate and
/verify/ answers 無効; each role's limits in the admin."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from certificates.models import IssuanceRecord, IssuedCertificateNumber
from kiosk_api.models import Terminal
from tests.browser.conftest import login
from tests.kiosk_api.cards import Pki
from tests.kiosk_api.live import card_file, distinct_holder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _status(page: Page, url: str) -> int:
    response = page.goto(url)
    assert response is not None
    return response.status


def _kiosk_flow(page: Page, base: str, card: Path, shot) -> bytes:
    page.goto(f"{base}/kiosk-simulator/")
    shot(page, "kiosk-1-menu")
    page.click("text=行政サービス")
    page.click("text=証明書交付")
    page.click("[data-credential=card]")  # マイナンバーカード, not スマートフォン
    shot(page, "kiosk-2-card", full_page=True)
    page.click(f"button[value='{card.name}']")
    page.click("[data-digit='9']")
    page.click("text=確定")
    expect(page.locator("#pin-short")).to_be_visible()  # too short: not sent, no try counted
    page.click("text=訂正")
    for _ in range(4):
        page.click("[data-digit='9']")
    page.click("text=確定")
    expect(page.locator(".error:not([hidden])")).to_contain_text("あと2回")
    for digit in "1234":
        page.click(f"[data-digit='{digit}']")
    expect(page.locator(".pin-display .filled")).to_have_count(4)
    shot(page, "kiosk-3-pin")
    page.click("text=確定")
    page.wait_for_url("**/kiosk-simulator/offers/")
    shot(page, "kiosk-4-offers")
    page.click("[data-type=juminhyo]")
    page.check("input[name=show_relationship]")
    page.click("[data-step='1']")
    shot(page, "kiosk-5-options", full_page=True)
    page.click("text=次へ")
    expect(page.locator(".summary .fee")).to_have_text("400円")
    shot(page, "kiosk-6-confirm")
    page.get_by_role("button", name="お支払い・印刷").click()
    page.wait_for_url("**/kiosk-simulator/printing/", wait_until="domcontentloaded")
    expect(page.locator("iframe.pdf")).to_have_attribute("src", "/kiosk-simulator/document.pdf")
    # The frame's document, fetched as the frame does (same browser session).
    response = page.request.get(f"{base}/kiosk-simulator/document.pdf")
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    pdf = response.body()
    page.wait_for_timeout(1500)  # let the viewer draw the page for the screenshot
    shot(page, "kiosk-7-printing")
    page.click("text=印刷が終わりました")
    expect(page.locator("h1")).to_have_text("カードの取り忘れにご注意ください")
    shot(page, "kiosk-8-remove-card")
    page.click("text=カードを取りました")
    expect(page.locator("h1")).to_have_text("ご利用ありがとうございました")
    return pdf


def test_kiosk_flow_then_supervisor_voids_and_verify_answers_voided(
    browser: Browser, page: Page, live_server, pki: Pki, cards: Path, staff, shot
):
    holder = distinct_holder(6)
    card = card_file(cards, pki.card(holder), holder)

    pdf = _kiosk_flow(page, live_server.url, card, shot)
    assert pdf.startswith(b"%PDF")
    record = IssuanceRecord.objects.get()
    assert (record.status, record.copies, record.fee_total) == ("printed", 2, 400)
    number = IssuedCertificateNumber.objects.filter(issuance=record).order_by("copy_index").first()
    assert number is not None

    admin = browser.new_context(viewport={"width": 1600, "height": 900}, locale="ja-JP").new_page()
    login(admin, live_server.url, "supervisor")
    admin.goto(f"{live_server.url}/admin/certificates/issuancerecord/reports/")
    expect(admin.locator("#content")).to_contain_text("交付 1 件(2 通)/手数料 400 円")
    shot(admin, "admin-reports", full_page=True)
    admin.goto(f"{live_server.url}/admin/certificates/issuancerecord/?q={number.number}")
    shot(admin, "admin-issuance-records")
    admin.check("input[name=_selected_action]")
    admin.select_option("select[name=action]", "void_selected")
    admin.click("button[name=index]")
    admin.fill("#id_reason", "印字不良のため窓口で再交付")
    shot(admin, "admin-void")
    admin.click("input[value=取り消す]")
    expect(admin.locator(".messagelist")).to_contain_text("1件の交付を取り消しました。")
    record.refresh_from_db()
    assert (record.status, record.void_reason) == ("voided", "印字不良のため窓口で再交付")

    admin.goto(f"{live_server.url}/verify/")
    admin.fill("#id_number", number.number)
    admin.fill("#id_check_code", number.check_code)
    admin.click("text=照合する")
    expect(admin.locator(".answer .status")).to_have_text("無効")
    shot(admin, "verify-voided")
    admin.context.close()


def test_each_role_sees_only_what_it_may(browser: Browser, page: Page, live_server, staff, shot):
    base = live_server.url
    # 窓口職員: reads issuance records and reports, cannot void, cannot register a terminal.
    login(page, base, "clerk")
    page.goto(f"{base}/admin/certificates/issuancerecord/")
    expect(page.locator("#content h1")).to_have_text("表示する交付記録を選択")
    assert page.locator("select[name=action]").count() == 0
    page.goto(f"{base}/admin/certificates/issuancerecord/reports/")
    expect(page.locator("#content")).to_contain_text("チェーン別 手数料精算CSV")
    assert _status(page, f"{base}/admin/kiosk_api/terminal/add/") == 403
    assert _status(page, f"{base}/audit/") == 403
    page.context.clear_cookies()

    # 係長: registers a terminal; its token is shown once.
    login(page, base, "supervisor")
    page.goto(f"{base}/admin/kiosk_api/terminal/add/")
    page.fill("#id_name", "2号機")
    page.select_option("#id_chain", "lawson")
    page.fill("#id_store_code", "L-0100")
    page.click("input[name=_save]")
    expect(page.locator("#content")).to_contain_text("この画面でのみ表示されます")
    token = page.locator("code.terminal-token").inner_text()
    assert token.startswith("skt_")
    shot(page, "admin-terminal-registered")
    assert Terminal.objects.filter(name="2号機", chain="lawson").count() == 1
    # Reloading shows the terminal, not the token, and does not register it a second time; nor
    # does coming back to the page from the list.
    page.reload()
    expect(page.locator("#content h1")).to_be_visible()
    expect(page.locator("#content")).not_to_contain_text(token)
    page.goto(f"{base}/admin/kiosk_api/terminal/")
    page.go_back()
    expect(page.locator("#content h1")).to_be_visible()
    expect(page.locator("#content")).not_to_contain_text(token)
    assert Terminal.objects.filter(name="2号機", chain="lawson").count() == 1
    page.context.clear_cookies()

    # 監査: /audit/ sends them to sign in and back; the admin turns them away to its login page.
    page.goto(f"{base}/audit/")
    page.wait_for_url("**/admin/login/**")
    page.fill("#id_username", "auditor")
    page.fill("#id_password", "browser-test-password-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/audit/")
    page.goto(f"{base}/admin/")
    page.wait_for_url("**/admin/login/**")
    assert page.locator("#content-main a[href^='/admin/certificates/']").count() == 0
    page.goto(f"{base}/admin/certificates/issuancerecord/")
    page.wait_for_url("**/admin/login/**")
