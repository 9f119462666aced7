"""The feed's book-keeping for clerks (SPEC §5: every batch's outcome is shown to clerks). Read-only:
the feed alone writes these rows. Japanese by default, English available.

Quarantined records hold the record as received (names, birth dates, addresses) and blocks name
residents by code: clerks' views of both are audited like the mirror's (SPEC §6). Batches, alerts
and the cursor show counts and reasons, never a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from audit.services import Actor
from residents.admin_mixins import AuditedResidentDataAdminMixin
from residents.models import Resident
from sync.errors import Misconfigured, RetryLater
from sync.models import Batch, QuarantinedRecord, ResidentBlock, SyncAlert, SyncCursor
from sync.redaction import MY_NUMBER_MARKER
from sync.selectors import mirror_freshness
from sync.services import sync_run
from sync.validation import resident_codes_in


class ReadOnlyAdmin(admin.ModelAdmin):
    """Clerks look; only the feed writes. Counting huge tables on every page is skipped."""

    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    list_display = (
        "number_display",
        "kind",
        "status",
        "records_declared",
        "records_applied",
        "records_quarantined",
        "reason_code",
        "received_at",
        "finished_at",
    )
    list_filter = ("status", "kind")
    search_fields = ("=number",)
    date_hierarchy = "received_at"

    @admin.display(description=_("連携番号"), ordering="number")
    def number_display(self, obj: Batch) -> str:
        return f"{obj.number:010d}"

    # -- the sync dashboard: the state of the line above the batch list, and 「今すぐ連携」 --------

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data is not None:
            response.context_data["sync_dashboard"] = _dashboard(request)
        return response

    def get_urls(self) -> list[URLPattern]:
        run_now = self.admin_site.admin_view(require_POST(self.run_now_view))
        return [path("run-now/", run_now, name="sync_batch_run_now"), *super().get_urls()]

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        """Apply every pending batch now, as the clerk (the batches' audit events name them)."""
        if not request.user.has_perm("sync.run_sync"):
            raise PermissionDenied
        try:
            result = sync_run(actor=Actor.user(request.user))
        except RetryLater as exc:
            messages.error(
                request,
                gettext("受信フォルダに接続できません。時間をおいて再実行してください。(%(error)s)")
                % {"error": exc},
            )
        except Misconfigured as exc:
            messages.error(
                request,
                gettext("連携の設定に誤りがあります。システム管理者に連絡してください。(%(error)s)")
                % {"error": exc},
            )
        else:
            level = messages.WARNING if result.line_stopped else messages.SUCCESS
            applied = len(result.applied)
            text = (
                ngettext(
                    "%(count)d件の連携バッチを適用しました。",
                    "%(count)d件の連携バッチを適用しました。",
                    applied,
                )
                % {"count": applied}
                if applied
                else gettext("適用待ちの連携バッチはありません。")
            )
            if result.line_stopped:
                text += " " + gettext("連携が停止しています: %(message)s") % {"message": result.message}
            messages.add_message(request, level, text)
        return HttpResponseRedirect(reverse("admin:sync_batch_changelist"))


def _dashboard(request: HttpRequest) -> dict[str, Any]:
    cursor = SyncCursor.objects.filter(pk=1).first()
    freshness = mirror_freshness()
    lag = timezone.now() - freshness.last_applied_at if freshness.last_applied_at else None
    return {
        "next_batch_number": cursor.next_batch_number if cursor else None,
        "last_applied_at": freshness.last_applied_at,
        "lag_minutes": int(lag.total_seconds() // 60) if lag is not None else None,
        "is_fresh": freshness.is_fresh,
        "open_alerts": list(SyncAlert.objects.filter(cleared_at__isnull=True).order_by("-raised_at")[:10]),
        "unresolved_quarantined": QuarantinedRecord.objects.filter(resolved_at__isnull=True).count(),
        "can_run": request.user.has_perm("sync.run_sync"),
    }


class UnresolvedFilter(admin.SimpleListFilter):
    title = _("解消状況")
    parameter_name = "unresolved"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", gettext("未解消")), ("no", gettext("解消済"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class ResidentBlockInline(admin.TabularInline):
    model = ResidentBlock
    extra = 0
    can_delete = False
    fields = ("resident_code", "released_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _quarantined_codes(record: QuarantinedRecord) -> set[str]:
    """The resident codes a quarantined record concerns: those its raw data names (the key, the
    resident, a household's head) and those it blocks (the members of the households it touches)."""
    data = record.record.get("data") if isinstance(record.record, dict) else None
    codes = resident_codes_in(record.entity, record.key, data)
    if isinstance(data, dict) and isinstance(data.get("head_resident_code"), str):
        codes.add(data["head_resident_code"])
    codes.update(block.resident_code for block in record.blocks.all())
    return codes


@admin.register(QuarantinedRecord)
class QuarantinedRecordAdmin(AuditedResidentDataAdminMixin, ReadOnlyAdmin):
    list_display = (
        "batch",
        "line_number",
        "entity",
        "key",
        "reason_code",
        "reason",
        "my_numbers_removed",
        "resolved_at",
    )
    list_filter = (UnresolvedFilter, "entity", "reason_code")
    list_select_related = ("batch", "resolved_by")
    raw_id_fields = ("batch", "resolved_by")
    search_fields = ("key",)
    readonly_fields = ("my_number_note",)
    inlines = (ResidentBlockInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[QuarantinedRecord]:
        return super().get_queryset(request).prefetch_related("blocks")

    def audit_resident_ids(self, objects: Iterable[Any]) -> list[int]:
        codes: set[str] = set()
        for record in objects:
            codes |= _quarantined_codes(record)
        if not codes:
            return []
        return sorted(Resident.objects.filter(resident_code__in=codes).values_list("pk", flat=True))

    def audit_payload(self, objects: list[Any]) -> dict[str, Any]:
        # A quarantined record may name residents the mirror does not hold yet (a newborn, a move-in
        # whose record failed): no internal id exists for them, so the event names the records
        # shown, by their own id; the auditor reaches the residents through them. Never the key or
        # the data: they may hold what the payload may not (a resident code of 12 digits, a name).
        codes = {record.pk: _quarantined_codes(record) for record in objects}
        named = set().union(*codes.values())
        known = set(Resident.objects.filter(resident_code__in=named).values_list("resident_code", flat=True))
        return {
            "quarantined_records": sorted(codes),
            "quarantined_records_not_in_mirror": sorted(pk for pk, some in codes.items() if some - known),
        }

    @admin.display(description=_("個人番号の削除"))
    def my_number_note(self, obj: QuarantinedRecord) -> str:
        if not obj.my_numbers_removed:
            return gettext("このレコードに個人番号はありませんでした。")
        return gettext(
            "受信したレコードにあった個人番号%(count)d件を削除し、「%(marker)s」と表示しています"
            "(原本は連携の保管先にあります)。"
        ) % {"count": obj.my_numbers_removed, "marker": MY_NUMBER_MARKER}


@admin.register(ResidentBlock)
class ResidentBlockAdmin(AuditedResidentDataAdminMixin, ReadOnlyAdmin):
    list_display = ("resident_code", "reason_code", "quarantined_record", "released_at")
    list_filter = (("released_at", admin.EmptyFieldListFilter),)
    list_select_related = ("quarantined_record__batch",)
    raw_id_fields = ("quarantined_record",)
    search_fields = ("=resident_code",)

    def audit_resident_ids(self, objects: Iterable[Any]) -> list[int]:
        codes = {block.resident_code for block in objects}
        if not codes:
            return []
        return sorted(Resident.objects.filter(resident_code__in=codes).values_list("pk", flat=True))

    def audit_payload(self, objects: list[Any]) -> dict[str, Any]:
        # A block may name a resident the mirror does not hold: its quarantined record says who.
        return {"quarantined_records": sorted({block.quarantined_record_id for block in objects})}

    @admin.display(description=_("理由コード"))
    def reason_code(self, obj: ResidentBlock) -> str:
        return obj.quarantined_record.reason_code


@admin.register(SyncAlert)
class SyncAlertAdmin(ReadOnlyAdmin):
    list_display = ("kind", "batch_number", "message", "raised_at", "last_seen_at", "cleared_at")
    list_filter = ("kind", ("cleared_at", admin.EmptyFieldListFilter))

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # Open alerts first: they are what a clerk must act on.
        return [F("cleared_at").desc(nulls_first=True), "-raised_at"]


@admin.register(SyncCursor)
class SyncCursorAdmin(ReadOnlyAdmin):
    list_display = ("next_batch_number", "last_applied_at", "last_checked_at")
