"""End to end in a real browser (Debian's chromium, never a downloaded one) against a live server."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import Browser, sync_playwright

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from oversight.views import AUDITOR_GROUP
from tests.certificates.factories import ResidentFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-password-123"


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium through Playwright. Keep ORM calls outside this block: inside it an event
    loop runs in this thread, and Django would open (and leak) a connection of its own there."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def people(transactional_db):
    auditor = User.objects.create_user("kansa-browser", password=PASSWORD, is_staff=True)
    auditor.groups.add(Group.objects.get_or_create(name=AUDITOR_GROUP)[0])
    User.objects.create_user("clerk-browser", password=PASSWORD, is_staff=True)
    resident = ResidentFactory.create(family_name="鍋島", given_name="直正", family_name_kana="ナベシマ")
    audit_record(
        actor=Actor(kind="terminal", id="5", label="ファミリーマート 12"),
        action="certificate.issued",
        resident_ids=[resident.pk],
        certificate_numbers=["41201-000123"],
        payload={"type": "inkan"},
    )
    return resident


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/audit/")
    assert "/admin/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


@pytest.mark.slow
def test_auditor_searches_a_resident_and_exports_csv(live_server, people):
    with chromium() as browser:
        _auditor_session(browser, live_server)
    recorded = list(AuditEvent.objects.filter(actor_label="kansa-browser").values_list("action", flat=True))
    # The sign-in, one search, one export, and nothing from the forged POST.
    assert sorted(recorded) == ["audit.export", "audit.search", "staff.login"]


def _auditor_session(browser: Browser, live_server) -> None:
    """Log in, search a resident, export CSV, try to change something."""
    context = browser.new_context(accept_downloads=True, locale="ja-JP")  # a Japanese clerk's browser
    page = context.new_page()
    log_in(page, live_server, "kansa-browser")
    assert page.url.endswith("/audit/")
    assert page.locator("h2").inner_text() == "監査記録の検索"

    page.fill("#id_resident", "ナベシマ")
    page.click("button:has-text('検索')")
    results = page.locator("table tbody")
    assert "鍋島　直正" in page.content()
    assert "証明書の発行" in results.inner_text()
    assert "41201-000123" in results.inner_text()

    with page.expect_download() as download_info:
        page.click("button:has-text('CSVで書き出す')")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8-sig").read())))
    assert rows[0][6] == "操作"
    assert "certificate.issued" in [row[6] for row in rows[1:]]

    # Read-only: no page offers a form that posts but the language switch, which only sets the
    # language cookie, 「ログアウト」, and the chain page's 「今すぐ検証する」, which queues a
    # verification that only reads the records; a forged POST is refused.
    for path, forms in (
        ("/audit/", ["/i18n/setlang/", "/admin/logout/"]),
        ("/audit/chain/", ["/i18n/setlang/", "/admin/logout/", "/audit/chain/verify/"]),
        ("/audit/statistics/", ["/i18n/setlang/", "/admin/logout/"]),
    ):
        page.goto(f"{live_server.url}{path}")
        posting = page.locator("form[method=post], form[method=POST]")
        assert [posting.nth(i).get_attribute("action") for i in range(posting.count())] == forms
    refused = context.request.post(f"{live_server.url}/audit/", form={"resident": "x"})
    assert refused.status in (403, 405)
    context.close()


@pytest.mark.slow
def test_clerk_is_refused(live_server, people):
    with chromium() as browser:
        page = browser.new_page()
        log_in(page, live_server, "clerk-browser")
        response = page.goto(f"{live_server.url}/audit/")
        assert response is not None and response.status == 403
        assert "鍋島" not in page.content()
        page.close()
    # The clerk's sign-in is on record; the refused page read nothing.
    recorded = AuditEvent.objects.filter(actor_label="clerk-browser").values_list("action", flat=True)
    assert list(recorded) == ["staff.login"]
