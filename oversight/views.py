"""The auditors' views at /audit/ (SPEC §6, §9): read-only, for the 監査 group only.

The screens are Japanese; an auditor may switch them to English (the language form in
templates/audit/base.html, Django's set_language view).

Every view answers GET only, but 「今すぐ検証する」 (a POST): it queues a verification of the whole
chain, too long for a request once the log is large, for the Celery worker (``audit_verify_task``);
the chain page shows its progress and result. Searches, event details and exports are themselves
audited (``audit.search``, ``audit.event_viewed``, ``audit.export``), as is a verification run
(``audit.verify``, by the task); nothing else here writes anything.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from audit.access_history import accessor_label, event_label
from audit.keyring import checkpoint_keyring
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditPending, AuditVerificationRun
from audit.request_context import RequestContext, staff_request_context
from audit.selectors import (
    EventFilter,
    events_for_export,
    events_page,
    verification_run_in_progress,
    verification_run_latest,
)
from audit.tasks import audit_verify_task
from oversight.forms import EventSearchForm, StatisticsForm
from oversight.selectors import issuance_statistics, residents_matching
from residents.models import Resident
from staff import roles

AUDITOR_GROUP = roles.AUDITOR  # "監査", created by migration 0004 and by roles_ensure()
PAGE_SIZE = 50

View = Callable[..., HttpResponseBase]


def is_auditor(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.groups.filter(name=AUDITOR_GROUP).exists())


def _auditors_only(view: View) -> View:
    """Anonymous: to the login page. Signed in but not an auditor (even staff): 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not is_auditor(request.user):
            raise PermissionDenied(gettext("監査担当者のみ利用できます。"))
        return view(request, *args, **kwargs)

    return wrapper


def auditor_required(view: View) -> View:
    """For auditors only, and GET only: reading changes nothing."""
    return require_GET(_auditors_only(view))


def auditor_post_required(view: View) -> View:
    """For auditors only, and POST only (CSRF-protected): an action, never started by a link."""
    return require_POST(_auditors_only(view))


def _auditor(request: HttpRequest) -> RequestContext:
    return staff_request_context(request, kind=AuditEvent.ActorKind.AUDITOR)


def _filters(form: Any) -> tuple[EventFilter, list[tuple[int, str, str]]]:
    data = form.cleaned_data
    matched: list[tuple[int, str, str]] = []
    resident_ids: tuple[int, ...] | None = None
    if data["resident"]:
        matched = residents_matching(query=data["resident"])
        resident_ids = tuple(pk for pk, _code, _name in matched)
    return (
        EventFilter(
            resident_ids=resident_ids,
            terminal=data["terminal"],
            clerk=data["clerk"],
            action=data["action"],
            outcome=data["outcome"],
            date_from=data["date_from"],
            date_to=data["date_to"],
        ),
        matched,
    )


def _filters_payload(filters: EventFilter) -> dict[str, Any]:
    """What was searched, for the audit event: the resident text itself stays out (ids suffice)."""
    return {
        "by_resident": filters.resident_ids is not None,
        "terminal": filters.terminal,
        "clerk": filters.clerk,
        "action": filters.action,
        "outcome": filters.outcome,
        "date_from": filters.date_from.isoformat() if filters.date_from else "",
        "date_to": filters.date_to.isoformat() if filters.date_to else "",
    }


def _row(event: AuditEvent) -> dict[str, Any]:
    link = getattr(event, "link", None)
    return {
        "event": event,
        "seq": link.seq if link else None,
        "action_label": event_label(event),
        "accessor": accessor_label(event.actor_kind),
    }


@auditor_required
def event_search(request: HttpRequest) -> HttpResponse:
    form = EventSearchForm(request.GET or None)
    context: dict[str, Any] = {"form": form, "rows": [], "searched": False, "nav": "search"}
    if request.GET and form.is_valid():
        filters, matched = _filters(form)
        before = form.cleaned_data["before"]
        events, next_before = events_page(filters=filters, before_id=before, size=PAGE_SIZE)
        with transaction.atomic():
            _auditor(request).audit(
                "audit.search",
                resident_ids=filters.resident_ids or (),
                payload={**_filters_payload(filters), "before": before or 0, "shown": len(events)},
            )
        query = request.GET.copy()
        query.pop("before", None)
        next_query = None
        if next_before is not None:
            query["before"] = str(next_before)
            next_query = query.urlencode()
            query.pop("before")
        context.update(
            searched=True,
            rows=[_row(event) for event in events],
            matched=matched,
            by_resident=filters.resident_ids is not None,
            next_query=next_query,
            first_query=query.urlencode(),
            is_first_page=before is None,
        )
    return render(request, "audit/search.html", context)


@auditor_required
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(AuditEvent.objects.select_related("link"), pk=pk)
    residents = {
        r.pk: r
        for r in Resident.objects.filter(pk__in=event.resident_ids).only(
            "resident_code", "family_name", "given_name"
        )
    }
    with transaction.atomic():
        _auditor(request).audit(
            "audit.event_viewed",
            resident_ids=event.resident_ids,
            payload={"event": event.pk},
        )
    context = {
        "nav": "search",
        **_row(event),
        "link": getattr(event, "link", None),
        "subjects": [(pk, residents.get(pk)) for pk in event.resident_ids],
        "payload_json": json.dumps(event.payload, ensure_ascii=False, indent=2, sort_keys=True),
        "pending": AuditPending.objects.filter(event_id=event.pk).exists(),
    }
    return render(request, "audit/event_detail.html", context)


class _Echo:
    """csv.writer target that hands each line back instead of buffering it."""

    def write(self, value: str) -> str:
        return value


# A cell starting with one of these is a formula to a spreadsheet: neutralise it (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

EXPORT_HEADER = [
    _("イベントID"),
    _("連番"),
    _("日時"),
    _("実行者種別"),
    _("実行者ID"),
    _("実行者"),
    _("操作"),
    _("結果"),
    _("理由"),
    _("対象住民(内部ID)"),
    _("交付番号"),
    _("接続元"),
    _("リクエストID"),
    _("詳細"),
    _("ハッシュ"),
]


def _cell(value: Any) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _export_lines(filters: EventFilter, header: list[str]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # BOM: spreadsheet software then reads the Japanese text as UTF-8
    yield writer.writerow(header)
    for event in events_for_export(filters=filters):
        link = getattr(event, "link", None)
        yield writer.writerow(
            [
                _cell(v)
                for v in (
                    event.pk,
                    link.seq if link else "",
                    timezone.localtime(event.occurred_at).isoformat(),
                    event.actor_kind,
                    event.actor_id,
                    event.actor_label,
                    event.action,
                    event.outcome,
                    event.reason,
                    " ".join(str(pk) for pk in event.resident_ids),
                    " ".join(event.certificate_numbers),
                    event.source,
                    event.request_id,
                    json.dumps(event.payload, ensure_ascii=False, sort_keys=True),
                    link.hash if link else "",
                )
            ]
        )


@auditor_required
def event_export(request: HttpRequest) -> HttpResponseBase:
    form = EventSearchForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "audit/search.html",
            {"form": form, "rows": [], "searched": False, "nav": "search"},
            status=400,
        )
    filters = _filters(form)[0]
    with transaction.atomic():
        _auditor(request).audit(
            "audit.export",
            resident_ids=filters.resident_ids or (),
            payload=_filters_payload(filters),
        )
    # The header is translated now, in the request's language, not when the server streams the rows.
    header = [str(title) for title in EXPORT_HEADER]
    response = StreamingHttpResponse(_export_lines(filters, header), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


def _chain_context() -> dict[str, Any]:
    head = AuditChainHead.objects.filter(pk=1).first()
    in_progress = verification_run_in_progress()
    run = in_progress or verification_run_latest()
    return {
        "nav": "chain",
        "head": head,
        "pending": AuditPending.objects.count(),
        "checkpoint": AuditCheckpoint.objects.order_by("-tree_size").first(),
        "keyring": checkpoint_keyring(),
        "run": run,
        "running": in_progress is not None,
        # A finished run reads like a VerificationReport (audit/models.py): the page shows its result.
        "report": run if run and run.status in (run.Status.OK, run.Status.BROKEN) else None,
    }


@auditor_required
def chain_status(request: HttpRequest) -> HttpResponse:
    return render(request, "audit/chain.html", _chain_context())


@auditor_post_required
def chain_verify_now(request: HttpRequest) -> HttpResponseBase:
    """Queue a full verification (read-only) unless one is under way; the task records ``audit.verify``."""
    # Two auditors pressing at the same moment may queue two runs: harmless, both only read.
    if verification_run_in_progress() is None:
        with transaction.atomic():
            run = AuditVerificationRun.objects.create(
                # auditor_post_required lets only a signed-in auditor through.
                requested_by=cast(User, request.user),
                language=translation.get_language() or settings.LANGUAGE_CODE,
            )
            transaction.on_commit(lambda: audit_verify_task.delay(run.pk))
    return HttpResponseRedirect(reverse("audit:chain"), status=303)


@auditor_required
def statistics(request: HttpRequest) -> HttpResponse:
    form = StatisticsForm(request.GET or None)
    today = timezone.localdate()
    date_from, date_to = today - timedelta(days=29), today
    if request.GET and form.is_valid():
        date_from = form.cleaned_data["date_from"] or date_from
        date_to = form.cleaned_data["date_to"] or date_to
        if date_to < date_from:
            date_from = date_to
    stats = issuance_statistics(date_from=date_from, date_to=date_to)
    largest = max(stats.largest, 1)

    def bars(items: list[Any]) -> list[dict[str, Any]]:
        return [
            {
                "label": bar.label,
                "issued": bar.issued,
                "refused": bar.refused,
                "issued_pct": round(bar.issued * 100 / largest, 1),
                "refused_pct": round(bar.refused * 100 / largest, 1),
            }
            for bar in items
        ]

    context = {
        "nav": "statistics",
        "form": form,
        "date_from": date_from,
        "date_to": date_to,
        "sections": [
            (gettext("日別"), bars(stats.by_day)),
            (gettext("証明書の種類別"), bars(stats.by_type)),
            (gettext("コンビニチェーン別"), bars(stats.by_chain)),
            (gettext("お断りの理由別"), bars(stats.by_reason)),
        ],
        "total_issued": sum(bar.issued for bar in stats.by_day),
        "total_refused": sum(bar.refused for bar in stats.by_day),
    }
    return render(request, "audit/statistics.html", context)
