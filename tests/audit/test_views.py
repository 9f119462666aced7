"""The auditors' views: who may open them, what they find, and that they change nothing."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.checkpoints import checkpoint_create
from audit.models import AuditChainLink, AuditCheckpoint, AuditEvent
from audit.services import Actor, audit_record
from tests.audit.conftest import AS_OWNER, triggers_disabled
from tests.certificates.factories import ResidentFactory

pytestmark = pytest.mark.django_db

AUDIT_URLS: list[tuple[str, dict[str, int]]] = [
    ("audit:search", {}),
    ("audit:export", {}),
    ("audit:chain", {}),
    ("audit:statistics", {}),
]


@pytest.fixture
def residents(record_events, django_capture_on_commit_callbacks):
    hanako = ResidentFactory.create(
        resident_code="R000000101",
        family_name="鍋島",
        given_name="花子",
        family_name_kana="ナベシマ",
        given_name_kana="ハナコ",
    )
    taro = ResidentFactory.create(
        resident_code="R000000102",
        family_name="大隈",
        given_name="太郎",
        family_name_kana="オオクマ",
        given_name_kana="タロウ",
    )
    with django_capture_on_commit_callbacks(execute=True):
        audit_record(actor=Actor.job("sync"), action="sync.batch_applied", resident_ids=[hanako.pk, taro.pk])
        audit_record(
            actor=Actor(kind="terminal", id="3", label="セブン 001 佐賀駅前"),
            action="certificate.issued",
            resident_ids=[hanako.pk],
            certificate_numbers=["=HYPERLINK(1)"],
            payload={"type": "juminhyo"},
        )
        audit_record(
            actor=Actor(kind="terminal", id="3", label="セブン 001 佐賀駅前"),
            action="certificate.refused",
            outcome="refused",
            reason="support_measure",
            resident_ids=[taro.pk],
            payload={"type": "juminhyo"},
        )
        audit_record(
            actor=Actor(kind="clerk", id="9", label="yamada"),
            action="admin.resident_view",
            resident_ids=[taro.pk],
        )
    return hanako, taro


@pytest.mark.parametrize(("name", "kwargs"), AUDIT_URLS)
def test_anonymous_visitor_is_sent_to_the_login_page(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize(("name", "kwargs"), AUDIT_URLS)
def test_staff_outside_the_auditor_group_is_refused(client, clerk, name, kwargs):
    client.force_login(clerk)
    assert client.get(reverse(name, kwargs=kwargs)).status_code == 403


def test_event_detail_is_refused_to_a_clerk(client, clerk, residents):
    client.force_login(clerk)
    event = AuditEvent.objects.get(action="sync.batch_applied")
    assert client.get(reverse("audit:event_detail", args=[event.pk])).status_code == 403


@pytest.mark.parametrize(("name", "kwargs"), AUDIT_URLS)
def test_views_answer_get_only(client, auditor, name, kwargs):
    client.force_login(auditor)
    before = AuditEvent.objects.count()
    for method in (client.post, client.put, client.delete):
        assert method(reverse(name, kwargs=kwargs)).status_code == 405
    assert AuditEvent.objects.count() == before


def test_search_by_resident_name_finds_their_events_and_is_audited(client, auditor, residents):
    hanako, _ = residents
    client.force_login(auditor)

    response = client.get(reverse("audit:search"), {"resident": "鍋島"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "鍋島　花子" in html and "R000000101" in html
    assert "証明書の発行" in html  # certificate.issued
    assert "support_measure" not in html  # that refusal concerns 太郎 only
    search = AuditEvent.objects.filter(action="audit.search").get()
    assert search.actor_kind == "auditor" and search.actor_label == "kansa"
    assert search.resident_ids == [hanako.pk]
    assert "鍋島" not in str(search.payload)


def test_search_by_kana_code_terminal_outcome_and_dates(client, auditor, residents):
    client.force_login(auditor)
    today = timezone.localdate()

    by_kana = client.get(reverse("audit:search"), {"resident": "オオクマ タロウ", "outcome": "refused"})
    by_code = client.get(reverse("audit:search"), {"resident": "R000000102", "clerk": "yamada"})
    by_terminal = client.get(reverse("audit:search"), {"terminal": "佐賀駅前", "action": "certificate."})
    yesterday = client.get(reverse("audit:search"), {"date_to": str(today - timedelta(days=1))})

    assert "support_measure" in by_kana.content.decode()
    assert "admin.resident_view" not in by_kana.content.decode()
    assert "admin.resident_view" in by_code.content.decode()
    assert "certificate.refused" not in by_code.content.decode()
    terminal_html = by_terminal.content.decode()
    assert "certificate.issued" in terminal_html and "certificate.refused" in terminal_html
    assert "sync.batch_applied" not in terminal_html
    assert "該当する記録はありません" in yesterday.content.decode()


def test_unknown_resident_finds_nothing_rather_than_everything(client, auditor, residents):
    client.force_login(auditor)
    html = client.get(reverse("audit:search"), {"resident": "存在しない人"}).content.decode()
    assert "条件に合う住民はいません" in html
    assert "該当する記録はありません" in html


def test_my_number_is_refused_as_a_search_term_and_nothing_is_logged(client, auditor, residents):
    client.force_login(auditor)
    before = AuditEvent.objects.count()
    response = client.get(reverse("audit:search"), {"resident": "123456789018"})
    assert "個人番号(12桁の数字)では検索できません" in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_paging_walks_back_by_id_without_counting(
    client, auditor, record_events, django_assert_max_num_queries
):
    record_events(60, action="test.paging")
    client.force_login(auditor)

    first = client.get(reverse("audit:search"), {"action": "test.paging"})
    rows_first = first.context["rows"]
    second = client.get(reverse("audit:search") + "?" + first.context["next_query"])
    rows_second = second.context["rows"]

    assert len(rows_first) == 50 and len(rows_second) == 10
    ids = [row["event"].pk for row in rows_first + rows_second]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 60
    assert second.context["next_query"] is None
    with django_assert_max_num_queries(20) as queries:
        client.get(reverse("audit:search"), {"action": "test.paging"})
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_event_detail_shows_the_residents_and_the_chain_and_is_audited(client, auditor, residents):
    hanako, _ = residents
    event = AuditEvent.objects.get(action="certificate.issued")
    client.force_login(auditor)

    html = client.get(reverse("audit:event_detail", args=[event.pk])).content.decode()

    assert "鍋島　花子" in html
    assert AuditChainLink.objects.get(event=event).hash in html
    viewed = AuditEvent.objects.get(action="audit.event_viewed")
    assert viewed.resident_ids == [hanako.pk] and viewed.payload == {"event": event.pk}


def test_csv_export_streams_matching_events_and_is_audited(client, auditor, residents):
    hanako, _ = residents
    client.force_login(auditor)

    response = client.get(reverse("audit:export"), {"resident": "ナベシマ"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][0] == "イベントID"
    actions = [row[6] for row in rows[1:]]
    # The export itself concerns 花子 and is recorded before the rows are read.
    assert sorted(actions) == ["audit.export", "certificate.issued", "sync.batch_applied"]
    created = next(row for row in rows[1:] if row[6] == "certificate.issued")
    assert created[10] == "'=HYPERLINK(1)"  # a spreadsheet must not run it as a formula
    export = AuditEvent.objects.get(action="audit.export")
    assert export.resident_ids == [hanako.pk] and export.actor_kind == "auditor"


def test_chain_status_and_verify_now_change_nothing_but_their_own_event(
    client, auditor, residents, verify_now
):
    checkpoint_create()
    client.force_login(auditor)
    events_before = list(AuditEvent.objects.order_by("pk").values_list("pk", "action"))
    links_before = list(AuditChainLink.objects.order_by("seq").values_list("seq", "hash"))
    checkpoints_before = list(AuditCheckpoint.objects.values_list("tree_size", "root_hash"))

    status = client.get(reverse("audit:chain"))
    verified = verify_now(client)

    assert status.status_code == 200 and "最新のチェックポイント" in status.content.decode()
    assert "異常はありません" in verified.content.decode()
    events_after = list(AuditEvent.objects.order_by("pk").values_list("pk", "action"))
    assert events_after[: len(events_before)] == events_before
    assert [action for _, action in events_after[len(events_before) :]] == ["audit.verify"]
    assert (
        list(AuditChainLink.objects.order_by("seq").values_list("seq", "hash"))[: len(links_before)]
        == links_before
    )
    assert list(AuditCheckpoint.objects.values_list("tree_size", "root_hash")) == checkpoints_before


@AS_OWNER
def test_verify_now_reports_the_first_break(client, auditor, residents, verify_now):
    event = AuditEvent.objects.get(action="certificate.refused")
    seq = AuditChainLink.objects.get(event=event).seq
    with triggers_disabled("audit_auditevent") as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = '' WHERE id = %s", [event.pk])
    client.force_login(auditor)

    html = verify_now(client).content.decode()

    assert "改ざんまたは欠落を検出しました" in html
    assert f"連番 {seq}" in html
    recorded = AuditEvent.objects.get(action="audit.verify")
    assert recorded.outcome == "failure" and recorded.reason == "event_altered"


def test_statistics_count_issuances_and_refusals(client, auditor, residents):
    client.force_login(auditor)
    response = client.get(reverse("audit:statistics"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "交付 1 件/お断り 1 件" in html
    assert "住民票の写し" in html
    assert "support_measure" in html
    sections = dict(response.context["sections"])
    assert [(b["label"], b["issued"], b["refused"]) for b in sections["証明書の種類別"]] == [
        ("住民票の写し", 1, 1)
    ]
    assert [(b["label"], b["refused"]) for b in sections["お断りの理由別"]] == [("support_measure", 1)]


def test_statistics_reject_a_reversed_range(client, auditor):
    client.force_login(auditor)
    html = client.get(
        reverse("audit:statistics"), {"date_from": "2026-11-20", "date_to": "2026-11-01"}
    ).content.decode()
    assert "期間の終了は開始より後の日付にしてください" in html


def test_statistics_group_terminals_by_their_store_chain(client, auditor, django_capture_on_commit_callbacks):
    from kiosk_api.models import Terminal

    lawson = Terminal.objects.create(name="1号機", chain="lawson", store_code="L01", token_hash="a" * 64)
    seven = Terminal.objects.create(name="1号機", chain="seven_eleven", store_code="S01", token_hash="b" * 64)
    with django_capture_on_commit_callbacks(execute=True):
        for terminal, action in [(lawson, "certificate.issued")] * 2 + [
            (seven, "certificate.refused"),
            (seven, "kiosk.issuance_refused"),
        ]:
            audit_record(actor=Actor.terminal(terminal), action=action, payload={"type": "nozei"})
    client.force_login(auditor)

    sections = dict(client.get(reverse("audit:statistics")).context["sections"])

    by_chain = {bar["label"]: (bar["issued"], bar["refused"]) for bar in sections["コンビニチェーン別"]}
    assert by_chain == {"ローソン": (2, 0), "セブン-イレブン": (0, 2)}
    assert [bar["label"] for bar in sections["証明書の種類別"]] == ["納税証明書"]
