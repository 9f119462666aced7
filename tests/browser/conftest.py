"""Browser tests: Playwright driving Debian's chromium against a live server.

Never ``playwright install``: the browser is the system's ``/usr/bin/chromium`` (override with
KONBINI_CHROMIUM). Screenshots are written only when KONBINI_SCREENSHOT_DIR names a folder (the
README's pictures come from ``KONBINI_SCREENSHOT_DIR=docs/screenshots``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, Page, expect, sync_playwright

from audit.services import Actor
from kiosk_api.services import terminal_register
from simulators import jpki as jpki_sim
from staff import roles
from tests.certificates.factories import signing_dir_for_tests
from tests.kiosk_api.cards import NOW, KeyPool, Pki

CHROMIUM = os.environ.get("KONBINI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-test-password-1"
# Issuing renders and signs a PDF: on a busy 2-core CI machine that can take seconds.
expect.set_options(timeout=15_000)


@pytest.fixture(autouse=True)
def _kiosk_world(settings, tmp_path_factory) -> Iterator[None]:
    """As the kiosk API tests run: a Japan weekday morning (ticking), the issuing and document keys."""
    settings.KONBINI_SIGNING_DIR = signing_dir_for_tests(tmp_path_factory)
    settings.KONBINI_DOCUMENT_KEYS = "t1:" + "A" * 43 + "="
    settings.KONBINI_DOCUMENT_ACTIVE_KEY_ID = ""
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def pki(settings, tmp_path: Path, db: None) -> Pki:
    """The card's and the smartphone's test CAs trusted by the server, their CRLs published today and
    loaded by the job (SPEC §4)."""
    folder = tmp_path / "pki"
    settings.KONBINI_PKI_DIR = folder
    settings.KONBINI_TRUSTED_CA_FILES = [
        folder / jpki_sim.CA_CERT_FILE,
        folder / jpki_sim.SMARTPHONE_CA_CERT_FILE,
    ]
    settings.KONBINI_CRL_SOURCES = [
        str(folder / jpki_sim.CA_CRL_FILE),
        str(folder / jpki_sim.SMARTPHONE_CA_CRL_FILE),
    ]
    ca = jpki_sim.test_ca_load_or_create(pki_dir=folder)
    phone = jpki_sim.smartphone_ca_load_or_create(pki_dir=folder)
    jpki_sim.crl_publish(ca=ca, now=NOW)
    jpki_sim.crl_publish(ca=phone, now=NOW)
    loaded = Pki(ca=ca, phone=phone, other=jpki_sim.other_ca_load_or_create(pki_dir=folder), keys=KeyPool())
    loaded.crl_load()
    return loaded


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; Django's ORM refuses to run where
    # a loop runs unless told otherwise. Only for this module's lifetime, and only in this process.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield launched
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1180, "height": 900}, locale="ja-JP")
    context.set_default_timeout(20_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    folder = os.environ.get("KONBINI_SCREENSHOT_DIR")

    def take(page: Page, name: str, *, full_page: bool = False) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)

    return take


@pytest.fixture
def cards(settings, tmp_path: Path) -> Path:
    folder = tmp_path / "cards"
    folder.mkdir()
    settings.KIOSK_SIMULATOR_CARDS_DIR = folder
    settings.KIOSK_SIMULATOR_API_BASE = ""  # the bridge calls the very server the browser reached
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _terminal, token = terminal_register(
        name="デモ端末", chain="familymart", store_code="F-0001", actor=Actor.job("test")
    )
    (folder / "terminal.json").write_text(json.dumps({"token": token}), encoding="utf-8")
    return folder


@pytest.fixture
def staff(transactional_db, settings) -> dict[str, str]:
    """One account per role: user name → role (the password is PASSWORD)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    groups = roles.roles_ensure()
    accounts = {"clerk": roles.CLERK, "supervisor": roles.SUPERVISOR, "auditor": roles.AUDITOR}
    for username, role in accounts.items():
        user = get_user_model().objects.create_user(username, password=PASSWORD, is_staff=True)
        user.groups.set([groups[role]])
    return accounts


def login(page: Page, base: str, username: str, next_path: str = "/admin/") -> None:
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
