"""The feed's book-keeping for clerks (SPEC §5: every batch's outcome is shown to clerks). Read-only:
the feed alone writes these rows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest

from sync.models import Batch, QuarantinedRecord, ResidentBlock, SyncAlert, SyncCursor


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

    @admin.display(description="連携番号", ordering="number")
    def number_display(self, obj: Batch) -> str:
        return f"{obj.number:010d}"


class UnresolvedFilter(admin.SimpleListFilter):
    title = "解消状況"
    parameter_name = "unresolved"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "未解消"), ("no", "解消済")]

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


@admin.register(QuarantinedRecord)
class QuarantinedRecordAdmin(ReadOnlyAdmin):
    list_display = ("batch", "line_number", "entity", "key", "reason_code", "reason", "resolved_at")
    list_filter = (UnresolvedFilter, "entity", "reason_code")
    list_select_related = ("batch", "resolved_by")
    raw_id_fields = ("batch", "resolved_by")
    search_fields = ("key",)
    inlines = (ResidentBlockInline,)


@admin.register(ResidentBlock)
class ResidentBlockAdmin(ReadOnlyAdmin):
    list_display = ("resident_code", "reason_code", "quarantined_record", "released_at")
    list_filter = (("released_at", admin.EmptyFieldListFilter),)
    list_select_related = ("quarantined_record__batch",)
    raw_id_fields = ("quarantined_record",)
    search_fields = ("=resident_code",)

    @admin.display(description="理由コード")
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
