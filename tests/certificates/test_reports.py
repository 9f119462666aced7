"""Reports: counts and fees by day, month, type and store chain; the settlement CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from oversight import reports
from staff import roles
from tests.certificates.factories import jst
from tests.certificates.records import kiosk_record, terminal_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def november():
    """Issuances in November 2026 at two chains, plus one on 1 December just after midnight JST."""
    lawson, seven = terminal_for("lawson"), terminal_for("seven_eleven")
    kiosk_record(terminal=lawson, at=jst(2026, 11, 2, 9), cert_type="juminhyo", copies=2)
    kiosk_record(terminal=lawson, at=jst(2026, 11, 2, 10), cert_type="inkan", copies=1, fee_per_copy=300)
    kiosk_record(terminal=seven, at=jst(2026, 11, 2, 11), cert_type="juminhyo", copies=1)
    kiosk_record(terminal=seven, at=jst(2026, 11, 3, 12), cert_type="nozei", status="voided")
    kiosk_record(terminal=seven, at=jst(2026, 11, 30, 23, 59), cert_type="nozei", status="issued")
    # 00:30 JST on 1 December is still 30 November in UTC: it belongs to December.
    kiosk_record(terminal=lawson, at=jst(2026, 12, 1, 0, 30), cert_type="juminhyo", copies=3)
    return lawson, seven


def test_daily_report_counts_only_printed_issuances_as_billable(november):
    report = reports.issuance_report_daily(month=date(2026, 11, 17))
    assert (report.start, report.end, len(report.periods)) == (date(2026, 11, 1), date(2026, 11, 30), 30)
    second = report.periods[1]
    assert (second.label, second.printed, second.copies, second.fees) == ("11/2", 3, 4, 900)
    third = report.periods[2]
    assert (third.printed, third.fees, third.voided) == (0, 0, 1)
    assert report.periods[29].waiting == 1 and report.periods[29].fees == 0
    assert (report.total.printed, report.total.copies, report.total.fees) == (3, 4, 900)
    by_type = {t.key: t for t in report.by_type}
    assert (by_type["juminhyo"].printed, by_type["juminhyo"].fees) == (2, 600)
    assert (by_type["inkan"].fees, by_type["nozei"].voided, by_type["nozei"].waiting) == (300, 1, 1)
    by_chain = {t.label: t for t in report.by_chain}
    assert (by_chain["ローソン"].fees, by_chain["セブン-イレブン"].fees) == (700, 200)
    assert report.max_period_fees == 900


def test_monthly_report_splits_months_in_japan_time(november):
    report = reports.issuance_report_monthly(year=2026)
    assert [p.label for p in report.periods][10:] == ["2026年11月", "2026年12月"]
    assert (report.periods[10].fees, report.periods[11].fees) == (900, 600)
    assert report.periods[0].printed == 0


def test_issuance_without_a_kiosk_is_reported_under_unknown():
    kiosk_record(terminal=None, at=jst(2026, 11, 5, 9))
    report = reports.issuance_report_daily(month=date(2026, 11, 1))
    assert [(t.label, t.fees) for t in report.by_chain] == [("不明", 200)]


def test_settlement_csv_lists_printed_issuances_per_chain_and_type(november):
    rows = list(csv.reader(io.StringIO(reports.settlement_csv(month=date(2026, 11, 1)))))
    assert rows[0] == reports.SETTLEMENT_HEADER
    assert rows[1:] == [
        ["2026-11", "セブン-イレブン", "seven_eleven", "住民票の写し", "1", "1", "200"],
        ["2026-11", "ローソン", "lawson", "住民票の写し", "1", "2", "400"],
        ["2026-11", "ローソン", "lawson", "印鑑登録証明書", "1", "1", "300"],
        ["2026-11", "セブン-イレブン", "seven_eleven", "小計", "1", "1", "200"],
        ["2026-11", "ローソン", "lawson", "小計", "2", "3", "700"],
    ]


def test_settlement_csv_for_one_chain(november):
    rows = list(csv.reader(io.StringIO(reports.settlement_csv(month=date(2026, 12, 1), chain="lawson"))))
    assert rows[1:] == [
        ["2026-12", "ローソン", "lawson", "住民票の写し", "1", "3", "600"],
        ["2026-12", "ローソン", "lawson", "小計", "1", "3", "600"],
    ]


@pytest.fixture
def clerk_client(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = get_user_model().objects.create_user("madoguchi", password="x" * 12, is_staff=True)
    user.groups.set([roles.roles_ensure()[roles.CLERK]])
    client.force_login(user)
    return client


def test_clerk_opens_the_report_page_with_charts(clerk_client, november):
    response = clerk_client.get(
        reverse("admin:certificates_issuance_reports"), {"month": "2026-11", "year": "2026"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "2026年11月(日別)" in html and "2026年(月別)" in html
    assert 'aria-label="11/2: 交付 3 件、手数料 900 円"' in html
    assert 'style="height: 100%"' in html  # the busiest day fills its column
    assert "ローソン" in html and "settlement.csv?month=2026-11&amp;chain=lawson" in html


def test_clerk_downloads_the_settlement_csv_with_a_bom(clerk_client, november):
    response = clerk_client.get(
        reverse("admin:certificates_issuance_settlement"), {"month": "2026-11", "chain": "seven_eleven"}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="settlement-2026-11-seven_eleven.csv"'
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff対象月,チェーン")
    assert "ローソン" not in body and "セブン-イレブン,seven_eleven,住民票の写し,1,1,200" in body


@pytest.mark.parametrize(
    "query", [{"month": "2026-13"}, {"month": ""}, {"month": "2026-11", "chain": "nope"}]
)
def test_settlement_csv_refuses_a_bad_request_with_a_message(clerk_client, query):
    response = clerk_client.get(reverse("admin:certificates_issuance_settlement"), query, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:certificates_issuance_reports")
    assert any("指定" in str(m) for m in response.context["messages"])


def test_report_page_rejects_a_malformed_month(clerk_client):
    response = clerk_client.get(reverse("admin:certificates_issuance_reports"), {"month": "November"})
    assert response.status_code == 200
    assert "対象月は 2026-11 の形で入力してください。" in response.content.decode()
