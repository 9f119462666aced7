"""The auditors' screens are Japanese by default and English on request (Accept-Language, the
language cookie, or the switch in the header), with no Japanese left but the data itself."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.checkpoints import checkpoint_create
from audit.models import AuditChainLink, AuditEvent, AuditPending
from audit.services import Actor, audit_record
from tests.audit.conftest import AS_OWNER, triggers_disabled
from tests.certificates.factories import ResidentFactory

pytestmark = pytest.mark.django_db

# Kana, kanji, CJK punctuation (、。〜) and full-width forms ((:/).
JAPANESE = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")
TERMINAL_LABEL = "セブン 001 佐賀駅前"
HANAKO = "鍋島　花子"
TARO = "大隈　太郎"
# Data, never translated: the residents' names, a terminal's label, and the switch's "日本語" (each
# language is offered under its own name).
DATA = (HANAKO, TARO, TERMINAL_LABEL, "日本語")
MISSING_RESIDENT_ID = 999_999


@pytest.fixture
def events(django_capture_on_commit_callbacks) -> dict[str, AuditEvent]:
    hanako = ResidentFactory.create(
        resident_code="R000000201",
        family_name="鍋島",
        given_name="花子",
        family_name_kana="ナベシマ",
        given_name_kana="ハナコ",
    )
    taro = ResidentFactory.create(
        resident_code="R000000202",
        family_name="大隈",
        given_name="太郎",
        family_name_kana="オオクマ",
        given_name_kana="タロウ",
    )
    terminal = Actor(kind="terminal", id="3", label=TERMINAL_LABEL)
    with django_capture_on_commit_callbacks(execute=True):
        recorded = {
            "sync": audit_record(
                actor=Actor.job("sync"),
                action="sync.batch_applied",
                resident_ids=[hanako.pk, taro.pk, MISSING_RESIDENT_ID],
            ),
            "issued": audit_record(
                actor=terminal,
                action="certificate.issued",
                resident_ids=[hanako.pk],
                certificate_numbers=["41201-000001"],
                payload={"type": "juminhyo"},
            ),
            "refused": audit_record(
                actor=terminal,
                action="kiosk.issuance_refused",
                outcome="refused",
                reason="support_measure",
                resident_ids=[taro.pk],
                payload={"type": "inkan"},
            ),
        }
    # Committed but not sealed yet: waits in the queue.
    recorded["pending"] = audit_record(actor=Actor.system(), action="zzz.unknown", resident_ids=[taro.pk])
    return recorded


def japanese_left(page: str, *data: str) -> list[str]:
    """Japanese text of the page once the data is taken out, each hit with a little context."""
    for value in (*DATA, *data):
        page = page.replace(value, "")
    return [page[max(0, m.start() - 30) : m.end() + 30] for m in JAPANESE.finditer(page)]


@pytest.fixture
def auditor_client(client, auditor) -> Client:
    client.force_login(auditor)
    return client


def english(client: Client, url: str, query: dict[str, str] | None = None) -> str:
    response = client.get(url, query or {}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    return response.content.decode()


def japanese(client: Client, url: str, query: dict[str, str] | None = None) -> str:
    response = client.get(url, query or {})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="ja">' in page
    return page


def screens(events: dict[str, AuditEvent]) -> list[tuple[str, dict[str, str]]]:
    """Every HTML screen of /audit/ in its various states."""
    search = reverse("audit:search")
    return [
        (search, {}),
        (search, {"resident": "鍋島"}),
        (search, {"resident": "存在しない人"}),
        (search, {"resident": "123456789012", "date_from": "2026-11-20", "date_to": "2026-11-01"}),
        (search, {"action": "Kiosk", "outcome": "success"}),
        (reverse("audit:event_detail", args=[events["sync"].pk]), {}),
        (reverse("audit:event_detail", args=[events["pending"].pk]), {}),
        (reverse("audit:chain"), {}),
        (reverse("audit:statistics"), {}),
        (reverse("audit:statistics"), {"date_from": "2026-11-20", "date_to": "2026-11-01"}),
        (reverse("audit:statistics"), {"date_from": "2026-01-01", "date_to": "2027-06-30"}),
    ]


def test_every_screen_is_japanese_by_default(auditor_client, events):
    for url, query in screens(events):
        page = japanese(auditor_client, url, query)
        assert "記録の検索" in page and "kansa さん(監査)" in page, (url, query)


def test_every_screen_has_no_japanese_left_in_english(auditor_client, events):
    for url, query in screens(events):
        page = english(auditor_client, url, query)
        assert '<html lang="en">' in page, (url, query)
        assert "Search records" in page and "kansa (auditor)" in page, (url, query)
        assert japanese_left(page, "鍋島", "存在しない人") == [], (url, query)


def test_search_results_in_both_languages(auditor_client, events):
    url = reverse("audit:search")

    ja = japanese(auditor_client, url, {"resident": "鍋島"})
    en = english(auditor_client, url, {"resident": "鍋島"})

    assert "鍋島　花子(住民コード R000000201/内部ID" in ja
    assert "証明書の発行" in ja and "3 名" in ja and "1 名" in ja
    assert f"{HANAKO} (resident code R000000201, internal ID" in en
    assert "Certificate issuance" in en and "Kiosk terminal" in en
    assert "3 residents" in en and "1 resident<" in en
    assert japanese_left(en, "鍋島") == []


def test_search_errors_and_empty_results_in_english(auditor_client, events):
    url = reverse("audit:search")

    refused = english(auditor_client, url, {"resident": "123456789012"})
    reversed_range = english(auditor_client, url, {"date_from": "2026-11-20", "date_to": "2026-11-01"})
    nobody = english(auditor_client, url, {"resident": "存在しない人"})

    assert "You cannot search by Individual Number (12 digits)" in refused
    assert "The end of the period must not be earlier than its start." in reversed_range
    assert "No resident matches the criteria." in nobody and "No matching records." in nobody


def test_paging_links_in_english(auditor_client, events, monkeypatch):
    monkeypatch.setattr("oversight.views.PAGE_SIZE", 1)
    url = reverse("audit:search")

    first = english(auditor_client, url, {"outcome": "success"})
    before = auditor_client.get(url, {"outcome": "success"}).context["next_query"]
    second = english(auditor_client, f"{url}?{before}")

    assert "Older records" in first and "Back to the newest" not in first
    assert "Back to the newest" in second
    assert japanese_left(second) == []


def test_event_detail_in_both_languages(auditor_client, events):
    sync = events["sync"]
    url = reverse("audit:event_detail", args=[sync.pk])
    seq = AuditChainLink.objects.get(event=sync).seq

    ja = japanese(auditor_client, url)
    en = english(auditor_client, url)

    assert f"監査記録の詳細(イベントID {sync.pk})" in ja
    assert f"連番 {seq}/連結" in ja and "(現在の住民データにありません)" in ja
    assert f"Audit record details (event ID {sync.pk})" in en
    assert f"Sequence number {seq}, chained" in en
    assert "Batch job (category: Core system link) sync (ID sync)" in en
    assert f"Internal ID {MISSING_RESIDENT_ID}:" in en and "(not in the current resident data)" in en
    assert japanese_left(en) == []


def test_event_detail_of_an_unchained_event_in_english(auditor_client, events):
    pending = events["pending"]
    url = reverse("audit:event_detail", args=[pending.pk])

    assert "Awaiting chaining (will be chained shortly)" in english(auditor_client, url)
    AuditPending.objects.filter(event_id=pending.pk).delete()
    lost = english(auditor_client, url)
    assert "Not in the chain" in lost and "Other use" in lost
    assert japanese_left(lost) == []


def test_chain_screens_in_both_languages(auditor_client, events, verify_now):
    checkpoint_create()

    ja = japanese(auditor_client, reverse("audit:chain"))
    en = english(auditor_client, reverse("audit:chain"))
    verified = verify_now(auditor_client, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # The checkpoint seals the pending event too: four events in the chain.
    assert "4 件(最終ハッシュ" in ja and "作成/4 件を証明" in ja
    assert "4 records (last hash" in en and "; covers 4 records" in en
    assert "Merkle root:" in en and "Signing key ID:" in en
    assert "No problems found. Records checked: 4; checkpoints checked: 1." in verified
    assert japanese_left(verified) == []


def test_empty_chain_in_english(auditor_client):
    page = english(auditor_client, reverse("audit:chain"))

    assert "0 records" in page and "None yet" in page
    assert japanese_left(page) == []


@AS_OWNER
def test_a_broken_chain_is_reported_in_english(auditor_client, events, verify_now):
    refused = events["refused"]
    with triggers_disabled("audit_auditevent") as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = '' WHERE id = %s", [refused.pk])

    response = verify_now(auditor_client, HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()

    assert "Tampering or missing records detected." in page and "event_altered" in page
    # The problem's own description comes from audit/chain.py, outside these templates.
    message = html.escape(response.context["report"].first_break.message)
    assert japanese_left(page, message) == []


def test_statistics_in_both_languages(auditor_client, events):
    url = reverse("audit:statistics")
    today = timezone.localdate()

    response = auditor_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    en = response.content.decode()
    ja = japanese(auditor_client, url)

    assert "交付 1 件/お断り 1 件" in ja and f"{today.year}年{today.month}月{today.day}日" in ja
    assert ": 1 issued, 1 refused" in en and f"{today.day}, {today.year}" in en
    sections = dict(response.context["sections"])
    assert sorted(bar["label"] for bar in sections["By certificate type"]) == [
        "Certificate of residence",
        "Seal registration certificate",
    ]
    assert [bar["label"] for bar in sections["By convenience store chain"]] == ["(unknown terminal)"]
    assert japanese_left(en) == []


def test_statistics_errors_and_empty_periods_in_english(auditor_client, events):
    url = reverse("audit:statistics")
    last_year = timezone.localdate() - timedelta(days=400)

    too_long = english(auditor_client, url, {"date_from": "2025-01-01", "date_to": "2026-06-30"})
    empty = english(auditor_client, url, {"date_from": str(last_year), "date_to": str(last_year)})

    assert "The period must not be longer than one year." in too_long
    assert "No records for this period." in empty
    assert japanese_left(empty) == []


def test_csv_header_follows_the_language(auditor_client, events):
    url = reverse("audit:export")

    def header(**extra: str) -> list[str]:
        response = auditor_client.get(url, {"outcome": "refused"}, **extra)
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        return next(csv.reader(io.StringIO(text)))

    assert header()[:3] == ["イベントID", "連番", "日時"]
    assert header(HTTP_ACCEPT_LANGUAGE="en")[:3] == ["Event ID", "Sequence number", "Date and time"]
    assert JAPANESE.findall(",".join(header(HTTP_ACCEPT_LANGUAGE="en"))) == []


def test_the_language_cookie_alone_gives_english(auditor_client, events):
    auditor_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = auditor_client.get(reverse("audit:chain")).content.decode()

    assert '<html lang="en">' in page and "Tamper detection" in page


def test_the_switch_in_the_header_sets_the_cookie_and_returns_to_the_page(auditor, events):
    client = Client(enforce_csrf_checks=True)
    client.force_login(auditor)
    url = reverse("audit:search") + "?resident=%E9%8D%8B%E5%B3%B6&outcome=success"
    page = japanese(client, url)
    assert '<button type="submit" name="language" value="ja" lang="ja" aria-pressed="true">日本語' in page

    def switch(page: str, language: str) -> str:
        form = re.search(r'<form class="language" action="([^"]+)" method="post".*?</form>', page, re.S)
        assert form is not None
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0))
        next_url = re.search(r'name="next" value="([^"]+)"', form.group(0))
        assert token and next_url and form.group(1) == reverse("set_language")
        response = client.post(
            form.group(1),
            {"language": language, "next": html.unescape(next_url.group(1)), "csrfmiddlewaretoken": token[1]},
        )
        assert response.status_code == 302 and response["Location"] == url
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == language
        return client.get(response["Location"]).content.decode()

    page = switch(page, "en")
    assert '<html lang="en">' in page and "Matching residents" in page
    assert 'value="en" lang="en" aria-pressed="true">English' in page
    assert japanese_left(page, "鍋島") == []

    page = switch(page, "ja")
    assert '<html lang="ja">' in page and "該当した住民" in page


@AS_OWNER
def test_the_problem_found_follows_the_language(auditor_client, events, verify_now):
    issued = events["issued"]
    seq = AuditChainLink.objects.get(event=issued).seq
    with triggers_disabled("audit_auditeventresident") as cursor:
        cursor.execute("DELETE FROM audit_auditeventresident WHERE event_id = %s", [issued.pk])

    en = verify_now(auditor_client, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    ja = verify_now(auditor_client).content.decode()
    auditor_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    by_cookie = verify_now(auditor_client).content.decode()

    assert f"連番 {seq}(イベントID {issued.pk}): 対象住民の索引が記録内容と一致しません" in ja
    english_problem = (
        f"Sequence number {seq} (event ID {issued.pk}): "
        "the index of the residents concerned does not match the record"
    )
    for page in (en, by_cookie):
        assert english_problem in page and "subjects_altered" in page
        assert japanese_left(page) == []
