"""The clerks' admin in two languages: Japanese by default, English through the language switch (the
cookie /i18n/setlang/ sets) or the browser's Accept-Language. In English no Japanese is left on a page
but the data itself (names, addresses, terminals' labels as stored, messages of the feed)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from certificates.models import Fee, IssuanceRecord, IssuanceStop
from kiosk_api.models import CrlSnapshot, KioskAlert, MaintenanceWindow
from staff import roles
from sync.services import sync_run
from tests.certificates.records import kiosk_record, terminal_for
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
OUR_APPS = ("residents", "certificates", "kiosk_api", "sync")
# Not the admin's own text: the language's name in the switch is always written in that language, and
# the apps' names (*/apps.py) are outside this change, still Japanese in English.
NOT_TRANSLATED = ("日本語", "住民記録ミラー", "証明書", "キオスク端末", "基幹系連携")


@pytest.fixture(autouse=True)
def _default_language_afterwards() -> Iterator[None]:
    """A request leaves its language active in the thread: the next test must start in Japanese."""
    yield
    translation.deactivate()


def _login(client: Client, role: str) -> Client:
    user = get_user_model().objects.create_user(f"user-{len(role)}", password="x" * 12, is_staff=True)
    user.groups.set([roles.roles_ensure()[role]])
    client.force_login(user)
    return client


@pytest.fixture
def clerk(client: Client) -> Client:
    return _login(client, roles.CLERK)


@pytest.fixture
def supervisor(client: Client) -> Client:
    return _login(client, roles.SUPERVISOR)


@pytest.fixture
def city() -> None:
    """A row for every model of the admin: the mirror and the feed's book-keeping through the feed
    (one quarantined record, one gap), the city's own rows directly."""
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(inbox, 1, fu.family(), kind="full")
    fu.write_batch(inbox, 2, [fu.upsert("resident", fu.resident("R002", seed=2, birth_date="2001-02-29"))])
    fu.write_batch(inbox, 4, [fu.upsert("household", fu.household("H004"))])
    sync_run()
    sync_run()
    now = timezone.now()
    record = kiosk_record(
        terminal=terminal_for("lawson", "佐賀駅前1号機"), at=now - timedelta(hours=2), copies=2
    )
    IssuanceStop.objects.create(resident_code="R001", reason="本人からの申出", created_at=now)
    Fee.objects.create(cert_type="inkan", amount_yen=300, effective_from=date(2020, 4, 1))
    MaintenanceWindow.objects.create(starts_at=now, ends_at=now + timedelta(hours=1), reason="システム保守")
    KioskAlert.objects.create(
        kind=KioskAlert.Kind.CRL_STALE, message="CRL expired", raised_at=now, last_seen_at=now
    )
    CrlSnapshot.objects.create(
        issuer="CN=JPKI", this_update=now, next_update=now + timedelta(days=1), loaded_at=now
    )
    assert record.status == IssuanceRecord.Status.PRINTED


def _admin_models() -> list[Any]:
    return [model for model in admin.site._registry if model._meta.app_label in OUR_APPS]


def _pages() -> list[str]:
    """The index, every changelist and one change form of each model, the reports."""
    urls = [reverse("admin:index"), reverse("admin:certificates_issuance_reports")]
    for model in _admin_models():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        row = model._default_manager.order_by("pk").first()
        assert row is not None, f"no row to show for {prefix}"
        urls += [reverse(f"{prefix}_changelist"), reverse(f"{prefix}_change", args=[row.pk])]
    return urls


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _data_strings() -> list[str]:
    """Every Japanese text stored in the rows the test made, longest first."""
    found = {
        text
        for config in OUR_APPS
        for model in apps.get_app_config(config).get_models()
        for row in model._default_manager.values()
        for text in _strings(row)
        if JAPANESE.search(text)
    }
    return sorted(found, key=len, reverse=True)


def _japanese_left(page: str, data: list[str]) -> list[str]:
    text = html.unescape(page)
    for value in [*data, *NOT_TRANSLATED]:
        text = text.replace(value, "")
    return sorted({text[max(m.start() - 30, 0) : m.end() + 30] for m in JAPANESE.finditer(text)})


def test_clerk_pages_are_japanese_by_default(clerk, city):
    for url in _pages():
        response = clerk.get(url)
        page = response.content.decode()
        assert response.status_code == 200, url
        assert '<html lang="ja"' in page, url
        assert "業務メニュー" in page or "佐賀市 証明書コンビニ交付 管理" in page, url
        assert '<option value="ja" lang="ja" selected>日本語</option>' in page, url
    index = clerk.get(reverse("admin:index")).content.decode()
    assert all(str(model._meta.verbose_name_plural) in index for model in _admin_models())
    assert "交付記録" in index and "Issuance records" not in index


@pytest.mark.parametrize(
    "ask_for_english",
    [
        pytest.param(lambda client: client.cookies.load({settings.LANGUAGE_COOKIE_NAME: "en"}), id="cookie"),
        pytest.param(lambda client: client.defaults.update(HTTP_ACCEPT_LANGUAGE="en"), id="accept-language"),
    ],
)
def test_clerk_pages_are_english_when_asked(clerk, city, ask_for_english):
    ask_for_english(clerk)
    data = _data_strings()
    for url in _pages():
        response = clerk.get(url)
        page = response.content.decode()
        assert response.status_code == 200, url
        assert '<html lang="en"' in page, url
        assert "Saga City convenience-store certificate issuance: administration" in page, url
        assert '<option value="en" lang="en" selected>English</option>' in page, url
        assert _japanese_left(page, data) == [], url
    index = clerk.get(reverse("admin:index")).content.decode()
    assert "Issuance records" in index and "Seal registrations" in index and "Sync alerts" in index


def test_english_report_page_and_a_japanese_settlement_csv(clerk, city):
    clerk.cookies.load({settings.LANGUAGE_COOKIE_NAME: "en"})
    today = timezone.localdate()

    report = clerk.get(reverse("admin:certificates_issuance_reports")).content.decode()
    csv = clerk.get(reverse("admin:certificates_issuance_settlement"), {"month": f"{today:%Y-%m}"})

    assert f"{today:%B %Y} (by day)" in report and f"{today.year} (by month)" in report
    assert "Issued: 1 (copies: 2) / fees: ¥400 / voided: 0 / awaiting print: 0" in report
    assert "Lawson" in report and "Certificate of residence" in report
    # Other programs read the CSV: its header and labels stay Japanese whatever the clerk reads.
    body = csv.content.decode("utf-8")
    assert body.startswith("\ufeff対象月,チェーン,チェーンコード,証明書の種類")
    assert "ローソン,lawson,住民票の写し,1,2,400" in body and "ローソン,lawson,小計" in body


def test_supervisor_actions_forms_and_messages_in_english(supervisor, city):
    supervisor.cookies.load({settings.LANGUAGE_COOKIE_NAME: "en"})
    data = _data_strings()
    changelist = reverse("admin:certificates_issuancerecord_changelist")
    record = IssuanceRecord.objects.get()

    pages = [
        supervisor.get(changelist),
        supervisor.get(reverse("admin:kiosk_api_terminal_changelist")),
        supervisor.get(reverse("admin:certificates_issuancestop_add")),
        supervisor.get(reverse("admin:kiosk_api_terminal_add")),
        supervisor.get(reverse("admin:sync_batch_changelist")),
        supervisor.post(changelist, {"action": "void_selected", "_selected_action": [record.pk]}),
    ]
    voided = supervisor.post(
        changelist,
        {"action": "void_selected", "_selected_action": [record.pk], "confirm": "yes", "reason": "二重交付"},
        follow=True,
    )

    for page in [*pages, voided]:
        assert page.status_code == 200
        assert _japanese_left(page.content.decode(), data) == []
    listing = pages[0].content.decode()
    assert (
        "Void the selected issuances (enter a reason)" in listing and "Reports and settlement CSV" in listing
    )
    assert "Suspend the selected terminals" in pages[1].content.decode()
    assert "Run the sync now" in pages[4].content.decode()
    assert "Reason for voiding" in pages[5].content.decode()
    assert (
        "Voided 1 issuance. The certificate check (/verify/) shows it as “invalid”."
        in voided.content.decode()
    )


def test_the_switch_sets_the_language_cookie_and_returns_to_the_page(clerk, city):
    index = reverse("admin:index")
    assert '<html lang="ja"' in clerk.get(index).content.decode()

    response = clerk.post("/i18n/setlang/", {"language": "en", "next": index})

    assert response.status_code == 302 and response["Location"] == index
    assert clerk.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Office menu" in clerk.get(index).content.decode()
    clerk.post("/i18n/setlang/", {"language": "ja", "next": index})
    assert "業務メニュー" in clerk.get(index).content.decode()
