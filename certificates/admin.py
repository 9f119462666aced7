"""Admin for clerks (Japanese): issuance records (read-only), issuance stops, fees.

Stops are created and lifted only through the services, so both acts are audited (SPEC §6).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from audit.services import Actor
from certificates.models import Fee, IssuanceRecord, IssuanceStop, IssuedCertificateNumber
from certificates.services import issuance_stop_create, issuance_stop_lift


class IssuedNumberInline(admin.TabularInline):
    model = IssuedCertificateNumber
    # The check code is not shown: it proves possession of the paper at /verify/.
    fields = ("copy_index", "number")
    readonly_fields = ("copy_index", "number")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IssuanceRecord)
class IssuanceRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "cert_type", "status", "copies", "fee_total", "terminal_label", "issued_at")
    list_filter = ("status", "cert_type")
    search_fields = ("=numbers__number", "=holder_resident_code")
    date_hierarchy = "issued_at"
    inlines = (IssuedNumberInline,)
    show_full_result_count = False  # the table grows without bound: no COUNT(*) per page

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in IssuanceRecord._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing only: voiding goes through issuance_void (audited), never a form edit.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IssuanceStop)
class IssuanceStopAdmin(admin.ModelAdmin):
    list_display = ("resident_code", "reason", "until", "created_at", "created_by", "lifted_at")
    list_filter = ("lifted_at",)
    search_fields = ("=resident_code",)
    list_select_related = ("created_by",)
    actions = ("lift_selected",)

    _ADD_FIELDS = ("resident_code", "reason", "until")
    _VIEW_FIELDS = ("resident_code", "reason", "until", "created_at", "created_by", "lifted_at", "lifted_by")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self._ADD_FIELDS if obj is None else self._VIEW_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self._VIEW_FIELDS

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # lifted, never deleted: the history of stops is kept

    def save_model(self, request: HttpRequest, obj: IssuanceStop, form: ModelForm, change: bool) -> None:
        if change:
            return  # every field is read-only once created; lifting is the action below
        actor = Actor.user(request.user)
        stop = issuance_stop_create(
            resident_code=obj.resident_code, reason=obj.reason, until=obj.until, actor=actor
        )
        # The admin goes on with ``obj`` (message, redirect): make it the row the service created.
        obj.pk = stop.pk
        obj.created_at = stop.created_at
        obj.created_by = stop.created_by
        obj._state.adding = False

    @admin.action(description="選択した交付停止を解除する")
    def lift_selected(self, request: HttpRequest, queryset: QuerySet[IssuanceStop]) -> None:
        lifted = 0
        for stop in queryset.filter(lifted_at__isnull=True):
            issuance_stop_lift(stop_id=stop.pk, actor=Actor.user(request.user))
            lifted += 1
        self.message_user(request, f"{lifted}件の交付停止を解除しました。", messages.SUCCESS)


@admin.register(Fee)
class FeeAdmin(admin.ModelAdmin):
    list_display = ("cert_type", "amount_yen", "effective_from")
    list_filter = ("cert_type",)
    ordering = ("cert_type", "-effective_from")
