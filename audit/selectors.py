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
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent, AuditEventResident, AuditVerificationRun

# SPEC §9: the holder sees who accessed their data by role, never by a person's name.
ACCESSOR_LABELS: dict[str, Promise] = {
    AuditEvent.ActorKind.CLERK: _("市民生活課"),
    AuditEvent.ActorKind.TERMINAL: _("コンビニ交付"),
    AuditEvent.ActorKind.JOB: _("基幹系連携"),
    AuditEvent.ActorKind.AUDITOR: _("監査"),
    AuditEvent.ActorKind.PUBLIC: _("証明書の照合"),
    AuditEvent.ActorKind.SYSTEM: _("システム"),
}

ACTION_LABELS: dict[str, Promise] = {
    "kiosk.session_started": _("コンビニ交付の利用開始"),
    "kiosk.session_ended": _("コンビニ交付の利用終了"),
    "kiosk.authenticate": _("マイナンバーカードによる本人確認"),
    "kiosk.offers_shown": _("交付できる証明書の表示"),
    # Recorded before certificate.issued and certificate.printed carried the kiosk's request: the
    # older events keep their labels.
    "kiosk.issuance_created": _("証明書の発行"),
    "kiosk.issuance_refused": _("証明書の発行(お断り)"),
    "kiosk.document_fetched": _("証明書の印刷データ送信"),
    "kiosk.issuance_completed": _("証明書の印刷完了"),
    "kiosk.access_history_viewed": _("利用履歴の確認"),
    "certificate.issued": _("証明書の発行"),
    "certificate.refused": _("証明書の発行(お断り)"),
    "certificate.issue_failed": _("証明書の発行(失敗)"),
    "certificate.subject_mismatch": _("証明書の発行(内容不一致のため破棄)"),
    "certificate.printed": _("証明書の印刷"),
    "certificate.voided": _("証明書の取消"),
    "certificate.verified": _("証明書の真正性確認"),
    "resident.stop_set": _("コンビニ交付の停止設定"),
    "resident.stop_lifted": _("コンビニ交付の停止解除"),
    "sync.batch_applied": _("基幹系システムからのデータ更新"),
    "sync.batch_rejected": _("基幹系システムからのデータ更新(不受理)"),
    "sync.record_quarantined": _("基幹系システムからのデータ更新(保留)"),
    "admin.resident_list": _("職員による住民情報の一覧表示"),
    "admin.resident_view": _("職員による住民情報の閲覧"),
    "audit.search": _("監査による記録の検索"),
    "audit.export": _("監査による記録の書き出し"),
    "audit.event_viewed": _("監査による記録の閲覧"),
    "audit.verify": _("監査ログの検証"),
}

_PREFIX_LABELS = (
    ("kiosk.", _("コンビニ交付での利用")),
    ("certificate.", _("証明書の処理")),
    ("sync.", _("基幹系システムとの連携")),
    ("admin.", _("職員による閲覧")),
    ("audit.", _("監査による確認")),
    ("terminal.", _("端末の管理")),
    ("resident.", _("住民情報の設定")),
)

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


# An authentication names the certificate the resident used (SPEC §4): the My Number card's (the
# label above; also every event recorded before smartphones were accepted) or the smartphone's.
_CREDENTIAL_ACTION_LABELS: dict[tuple[str, str], Promise] = {
    ("kiosk.authenticate", "smartphone"): _("スマートフォンによる本人確認"),
}


def action_label(action: str, *, credential: str = "") -> str:
    """The action's label in the active language (Japanese unless the reader chose English).

    ``credential`` is the event's payload ``credential`` (``card`` or ``smartphone``), if any."""
    if (action, credential) in _CREDENTIAL_ACTION_LABELS:
        return str(_CREDENTIAL_ACTION_LABELS[action, credential])
    if action in ACTION_LABELS:
        return str(ACTION_LABELS[action])
    for prefix, label in _PREFIX_LABELS:
        if action.startswith(prefix):
            return str(label)
    return gettext("その他の利用")


def accessor_label(actor_kind: str) -> str:
    return str(ACCESSOR_LABELS.get(actor_kind, gettext("その他")))


@dataclass(frozen=True)
class AccessHistoryEntry:
    at: datetime
    accessor: str  # a role (市民生活課, コンビニ交付, ...), never a person's name
    action: str  # label of the action, in the active language


def access_history_for_resident(*, resident_id: int, limit: int = 100) -> list[AccessHistoryEntry]:
    """Who accessed this resident's data, newest first, by role (SPEC §9)."""
    rows = (
        AuditEventResident.objects.filter(resident_id=resident_id)
        .annotate(credential=KeyTextTransform("credential", "event__payload"))
        .order_by("-event_id")
        .values_list("event__occurred_at", "event__actor_kind", "event__action", "credential")[
            : max(0, limit)
        ]
    )
    return [
        AccessHistoryEntry(
            at=at, accessor=accessor_label(kind), action=action_label(action, credential=credential or "")
        )
        for at, kind, action, credential in rows
    ]


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
