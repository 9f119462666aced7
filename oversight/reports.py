"""Reports for clerks: issuance counts and fees by day or month, type and store chain,
and the fee settlement with the store chains.

An issuance record links to its store chain through the kiosk API's ``KioskIssuance``
(``issuance_record_id`` → ``terminal`` → ``chain``); an issuance made without a kiosk (none in
production) is reported under 「不明」. Only ``printed`` issuances are billable: a voided issuance
(print failed, or voided by a supervisor) owes no fee, and one still waiting for its print is not
billed until the kiosk reports it printed.

The report page's labels follow the clerk's language. The settlement CSV does not: it is read by the
chains' and the city's accounting, so its header and labels are always the Japanese ones.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certificates.models import CertType, IssuanceRecord
from kiosk_api.models import KioskIssuance, Terminal

JAPAN = ZoneInfo("Asia/Tokyo")
UNKNOWN_CHAIN = ""
UNKNOWN_CHAIN_LABEL = _("不明")


def chain_label(chain: str) -> str:
    if chain in Terminal.Chain.values:
        return str(Terminal.Chain(chain).label)
    return str(UNKNOWN_CHAIN_LABEL)


@dataclass
class Tally:
    """Counts for one group (a day, a type, a chain...). Fees count printed issuances only."""

    key: str
    label: str
    short: str = ""  # the chart's axis label (a day number, a month)
    printed: int = 0
    copies: int = 0
    fees: int = 0
    waiting: int = 0  # issued, print not yet reported
    voided: int = 0

    def add(self, *, status: str, issuances: int, copies: int, fees: int) -> None:
        if status == IssuanceRecord.Status.PRINTED:
            self.printed += issuances
            self.copies += copies
            self.fees += fees
        elif status == IssuanceRecord.Status.VOIDED:
            self.voided += issuances
        else:
            self.waiting += issuances


@dataclass
class IssuanceReport:
    """One report: a period split into days or months, with the same figures by type and chain."""

    start: date  # first day, inclusive
    end: date  # last day, inclusive
    periods: list[Tally]
    by_type: list[Tally]
    by_chain: list[Tally]
    total: Tally
    # (period key, type, chain) → tally, for the detailed table; only non-empty groups.
    detail: list[tuple[Tally, str, str]] = field(default_factory=list)

    @property
    def max_period_fees(self) -> int:
        return max((p.fees for p in self.periods), default=0)

    @property
    def max_period_printed(self) -> int:
        return max((p.printed for p in self.periods), default=0)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _japan_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=JAPAN)


def _rows(*, start: date, end: date, by: str) -> Iterable[Any]:
    """Grouped rows for issuances issued on ``start``..``end`` (Japan days), one query."""
    chain = KioskIssuance.objects.filter(issuance_record_id=OuterRef("pk")).values("terminal__chain")[:1]
    trunc = TruncDate("issued_at", tzinfo=JAPAN) if by == "day" else TruncMonth("issued_at", tzinfo=JAPAN)
    return (
        IssuanceRecord.objects.filter(
            issued_at__gte=_japan_midnight(start), issued_at__lt=_japan_midnight(end + timedelta(days=1))
        )
        .annotate(period=trunc, chain=Subquery(chain))
        .values("period", "cert_type", "chain", "status")
        .annotate(issuances=Count("pk"), copies=Sum("copies"), fees=Sum("fee_total"))
        .order_by()
    )


def _period_key(value: date | datetime) -> date:
    if isinstance(value, datetime):
        value = value.astimezone(JAPAN).date()
    return value


def _report(*, start: date, end: date, by: str) -> IssuanceReport:
    if by == "day":
        keys = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        labels = {k: f"{k.month}/{k.day}" for k in keys}
    else:
        keys = []
        cursor = month_start(start)
        while cursor <= end:
            keys.append(cursor)
            cursor = next_month(cursor)
        labels = {k: date_format(k, "YEAR_MONTH_FORMAT") for k in keys}
    shorts = {k: str(k.day) if by == "day" else date_format(k, "M") for k in keys}
    periods = {k: Tally(key=k.isoformat(), label=labels[k], short=shorts[k]) for k in keys}
    by_type = {t.value: Tally(key=t.value, label=str(t.label)) for t in CertType}
    by_chain: dict[str, Tally] = {}
    detail: dict[tuple[date, str, str], Tally] = {}
    total = Tally(key="total", label=gettext("合計"))
    for row in _rows(start=start, end=end, by=by):
        period = _period_key(row["period"])
        chain = row["chain"] or UNKNOWN_CHAIN
        figures = {
            "status": row["status"],
            "issuances": int(row["issuances"]),
            "copies": int(row["copies"] or 0),
            "fees": int(row["fees"] or 0),
        }
        if chain not in by_chain:
            by_chain[chain] = Tally(key=chain or "unknown", label=chain_label(chain))
        group = (period, row["cert_type"], chain)
        if group not in detail:
            detail[group] = Tally(key=period.isoformat(), label=labels.get(period, str(period)))
        for tally in (
            periods.get(period),
            by_type.get(row["cert_type"]),
            by_chain[chain],
            detail[group],
            total,
        ):
            if tally is not None:
                tally.add(**figures)
    chain_order = {c: i for i, c in enumerate(Terminal.Chain.values)}
    return IssuanceReport(
        start=start,
        end=end,
        periods=[periods[k] for k in keys],
        by_type=list(by_type.values()),
        by_chain=sorted(by_chain.values(), key=lambda t: chain_order.get(t.key, len(chain_order))),
        total=total,
        detail=[
            (
                tally,
                str(CertType(cert_type).label) if cert_type in CertType.values else cert_type,
                chain_label(c),
            )
            for (_, cert_type, c), tally in sorted(
                detail.items(), key=lambda item: (item[0][0], item[0][1], chain_order.get(item[0][2], 99))
            )
        ],
    )


def issuance_report_daily(*, month: date) -> IssuanceReport:
    """Every day of ``month`` (Japan time): counts and fees by day, type and store chain."""
    start = month_start(month)
    return _report(start=start, end=next_month(start) - timedelta(days=1), by="day")


def issuance_report_monthly(*, year: int) -> IssuanceReport:
    """Every month of ``year`` (Japan time): counts and fees by month, type and store chain."""
    return _report(start=date(year, 1, 1), end=date(year, 12, 31), by="month")


@dataclass(frozen=True)
class SettlementRow:
    chain: str
    chain_label: str
    cert_type: str
    cert_type_label: str
    issuances: int
    copies: int
    fees: int


def settlement_rows(*, month: date, chain: str | None = None) -> list[SettlementRow]:
    """The billable (printed) issuances of ``month``, per store chain and certificate type."""
    start = month_start(month)
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in _rows(start=start, end=next_month(start) - timedelta(days=1), by="month"):
        if row["status"] != IssuanceRecord.Status.PRINTED:
            continue
        row_chain = row["chain"] or UNKNOWN_CHAIN
        if chain is not None and row_chain != chain:
            continue
        figures = totals[(row_chain, row["cert_type"])]
        figures[0] += int(row["issuances"])
        figures[1] += int(row["copies"] or 0)
        figures[2] += int(row["fees"] or 0)
    chain_order = {c: i for i, c in enumerate(Terminal.Chain.values)}
    type_order = {t: i for i, t in enumerate(CertType.values)}
    return [
        SettlementRow(
            chain=c,
            chain_label=chain_label(c),
            cert_type=t,
            cert_type_label=str(CertType(t).label) if t in CertType.values else t,
            issuances=n,
            copies=copies,
            fees=fees,
        )
        for (c, t), (n, copies, fees) in sorted(
            totals.items(), key=lambda item: (chain_order.get(item[0][0], 99), type_order.get(item[0][1], 99))
        )
    ]


SETTLEMENT_HEADER = ["対象月", "チェーン", "チェーンコード", "証明書の種類", "交付件数", "通数", "手数料(円)"]


def settlement_csv(*, month: date, chain: str | None = None) -> str:
    """The settlement CSV for one month (one chain, or all): one line per chain and type, then a
    subtotal per chain. Opened by spreadsheet software in Japan, hence the caller adds a BOM.
    Always in Japanese, whatever the clerk's language: other programs read it."""
    with translation.override("ja"):
        rows = settlement_rows(month=month, chain=chain)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(SETTLEMENT_HEADER)
        label = f"{month.year:04d}-{month.month:02d}"
        subtotals: dict[str, list[int]] = {}
        for row in rows:
            writer.writerow(
                [
                    label,
                    row.chain_label,
                    row.chain or "unknown",
                    row.cert_type_label,
                    row.issuances,
                    row.copies,
                    row.fees,
                ]
            )
            subtotal = subtotals.setdefault(row.chain, [0, 0, 0])
            subtotal[0] += row.issuances
            subtotal[1] += row.copies
            subtotal[2] += row.fees
        for c, (n, copies, fees) in subtotals.items():
            writer.writerow([label, chain_label(c), c or "unknown", "小計", n, copies, fees])
    return buffer.getvalue()
