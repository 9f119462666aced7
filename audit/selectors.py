"""Reads of the audit log: auditors' searches and statistics, a resident's access history (SPEC §6, §9).

The event table grows without bound, so nothing here counts it: lists are keyset-paged by id
(newest first) and statistics are bounded by a date range.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent, AuditEventResident, AuditVerificationRun

# The events the issuance statistics count: one per request, recorded by the issuing code (a
# refusal by certificate_issue) or by the kiosk door (a refusal before or after it).
ISSUED_ACTION = "certificate.issued"
REFUSED_ACTIONS = ("certificate.refused", "kiosk.issuance_refused")

# The labels of certificates.models.CertType (SPEC §2 wording), which this app may not import: a
# test keeps them equal.
CERT_TYPE_LABELS: dict[str, Promise] = {
    "juminhyo": _("住民票の写し"),
    "inkan": _("印鑑登録証明書"),
    "shotoku_kazei": _("所得課税証明書"),
    "nozei": _("納税証明書"),
}


# --- auditors' search ------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """An auditor's search. ``resident_ids`` None: any resident; empty: nobody matched."""

    resident_ids: tuple[int, ...] | None = None
    terminal: str = ""
    clerk: str = ""
    action: str = ""
    outcome: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def events_filtered(*, filters: EventFilter) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if filters.resident_ids is not None:
        subjects = AuditEventResident.objects.filter(resident_id__in=filters.resident_ids).values("event_id")
        events = events.filter(pk__in=subjects)
    if filters.terminal:
        events = events.filter(actor_kind=AuditEvent.ActorKind.TERMINAL).filter(
            Q(actor_id=filters.terminal) | Q(actor_label__icontains=filters.terminal)
        )
    if filters.clerk:
        events = events.filter(
            actor_kind__in=[AuditEvent.ActorKind.CLERK, AuditEvent.ActorKind.AUDITOR]
        ).filter(Q(actor_id=filters.clerk) | Q(actor_label__icontains=filters.clerk))
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    if filters.date_from:
        events = events.filter(occurred_at__gte=_local_midnight(filters.date_from))
    if filters.date_to:
        events = events.filter(occurred_at__lt=_local_midnight(filters.date_to + timedelta(days=1)))
    return events


def events_page(
    *, filters: EventFilter, before_id: int | None = None, size: int = 50
) -> tuple[list[AuditEvent], int | None]:
    """One page, newest first, and the id to continue from (None on the last page). No COUNT."""
    events = events_filtered(filters=filters).select_related("link")
    if before_id is not None:
        events = events.filter(pk__lt=before_id)
    rows = list(events.order_by("-pk")[: size + 1])
    if len(rows) > size:
        return rows[:size], rows[size - 1].pk
    return rows, None


def events_for_export(*, filters: EventFilter, chunk_size: int = 2000) -> Iterator[AuditEvent]:
    """Every matching event, newest first, read in keyset chunks (bounded memory)."""
    before_id: int | None = None
    while True:
        rows, before_id = events_page(filters=filters, before_id=before_id, size=chunk_size)
        yield from rows
        if before_id is None:
            return


# --- verification runs -----------------------------------------------------------------------

# A verification still queued or running after this long has lost its worker (stopped or restarted
# mid-run): it no longer blocks a new one, nor keeps the chain page refreshing.
VERIFICATION_STALE_AFTER = timedelta(hours=1)


def verification_run_in_progress() -> AuditVerificationRun | None:
    """The verification asked for on the chain page that is still queued or running, if any."""
    Status = AuditVerificationRun.Status
    cutoff = timezone.now() - VERIFICATION_STALE_AFTER
    return (
        AuditVerificationRun.objects.filter(
            Q(status=Status.QUEUED, requested_at__gte=cutoff)
            | Q(status=Status.RUNNING, started_at__gte=cutoff)
        )
        .select_related("requested_by")
        .order_by("-pk")
        .first()
    )


def verification_run_latest() -> AuditVerificationRun | None:
    return AuditVerificationRun.objects.select_related("requested_by").order_by("-pk").first()
