"""What the auditors' pages read across the apps: residents by name for the search, and the kiosk
issuance statistics by store chain. audit/ holds the log itself and knows no resident or terminal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncDate
from django.utils.functional import Promise
from django.utils.translation import gettext

from audit.models import AuditEvent
from audit.selectors import CERT_TYPE_LABELS, ISSUED_ACTION, REFUSED_ACTIONS, EventFilter, events_filtered
from kiosk_api.models import Terminal
from residents.models import Resident

_SPACES = re.compile(r"[\s\u3000]+")


def residents_matching(*, query: str, limit: int = 200) -> list[tuple[int, str, str]]:
    """(id, resident_code, name) of residents whose code, name or kana matches ``query``."""
    parts = [part for part in _SPACES.split(query.strip()) if part]
    if not parts:
        return []
    condition = Q(resident_code=query.strip())
    if len(parts) >= 2:
        family, given = parts[0], "".join(parts[1:])
        condition |= Q(family_name=family, given_name__startswith=given)
        condition |= Q(family_name_kana=family, given_name_kana__startswith=given)
    else:
        word = parts[0]
        condition |= Q(family_name__startswith=word) | Q(given_name__startswith=word)
        condition |= Q(family_name_kana__startswith=word) | Q(given_name_kana__startswith=word)
    rows = Resident.objects.filter(condition).order_by("pk")[:limit]
    return [
        (r.pk, r.resident_code, r.full_name) for r in rows.only("resident_code", "family_name", "given_name")
    ]


@dataclass(frozen=True)
class Bar:
    label: str
    issued: int
    refused: int

    @property
    def total(self) -> int:
        return self.issued + self.refused


@dataclass(frozen=True)
class IssuanceStatistics:
    by_day: list[Bar]
    by_type: list[Bar]
    by_chain: list[Bar]
    by_reason: list[Bar]  # refusals only

    @property
    def largest(self) -> int:
        bars = self.by_day + self.by_type + self.by_chain + self.by_reason
        return max((bar.total for bar in bars), default=0)


def _bars(rows: QuerySet, key: str, labels: dict[str, Promise] | None = None) -> list[Bar]:
    counts: dict[str, list[int]] = {}
    for row in rows:
        value = row[key]
        label = str(value) if value not in (None, "") else gettext("(不明)")
        label = str((labels or {}).get(label, label))
        entry = counts.setdefault(label, [0, 0])
        entry[0 if row["action"] == ISSUED_ACTION else 1] += row["n"]
    return [Bar(label, issued, refused) for label, (issued, refused) in counts.items()]


def issuance_statistics(*, date_from: date, date_to: date) -> IssuanceStatistics:
    """Issuances and refusals at the kiosks, by day, certificate type, store chain and reason."""
    events = events_filtered(filters=EventFilter(date_from=date_from, date_to=date_to)).filter(
        action__in=[ISSUED_ACTION, *REFUSED_ACTIONS]
    )
    tz = ZoneInfo(settings.TIME_ZONE)
    by_day_rows = (
        events.annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("day", "action")
        .annotate(n=Count("pk"))
    )
    by_day = {bar.label: bar for bar in _bars(by_day_rows, "day")}
    days = []
    day = date_from
    while day <= date_to:
        days.append(by_day.get(str(day), Bar(str(day), 0, 0)))
        day += timedelta(days=1)
    by_type_rows = (
        events.annotate(cert_type=KeyTextTransform("type", "payload"))
        .values("cert_type", "action")
        .annotate(n=Count("pk"))
    )
    terminal_rows = (
        events.filter(actor_kind=AuditEvent.ActorKind.TERMINAL)
        .values("actor_id", "action")
        .annotate(n=Count("pk"))
    )
    by_reason_rows = (
        events.filter(action__in=REFUSED_ACTIONS).values("reason", "action").annotate(n=Count("pk"))
    )
    return IssuanceStatistics(
        by_day=days,
        by_type=sorted(_bars(by_type_rows, "cert_type", CERT_TYPE_LABELS), key=lambda bar: -bar.total),
        by_chain=sorted(_chain_bars([dict(row) for row in terminal_rows]), key=lambda bar: -bar.total),
        by_reason=sorted(_bars(by_reason_rows, "reason"), key=lambda bar: -bar.total),
    )


def _chain_bars(rows: list[dict[str, Any]]) -> list[Bar]:
    """Terminal ids → their store chain's name (a handful of terminals, one query)."""
    ids = {int(row["actor_id"]) for row in rows if str(row["actor_id"]).isdigit()}
    chains = {
        str(pk): label
        for pk, label in (
            (terminal.pk, terminal.get_chain_display()) for terminal in Terminal.objects.filter(pk__in=ids)
        )
    }
    for row in rows:
        row["chain"] = chains.get(str(row["actor_id"]), gettext("(不明な端末)"))
    counts: dict[str, list[int]] = {}
    for row in rows:
        entry = counts.setdefault(row["chain"], [0, 0])
        entry[0 if row["action"] == ISSUED_ACTION else 1] += row["n"]
    return [Bar(label, issued, refused) for label, (issued, refused) in counts.items()]
