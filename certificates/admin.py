"""Admin for clerks (Japanese by default, English available): issuance records (search, filters,
void), stops, fees. The store-chain filters and the reports are added above, by oversight/admin.py.

Every act goes through the services, so it is audited in the same transaction (SPEC §6): an
issuance is voided with ``issuance_void`` (only with the void permission, always with a reason), a
stop is set and lifted with ``issuance_stop_create`` / ``issuance_stop_lift``. Records are never
edited through a form.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from audit.request_context import staff_request_context
from audit.services import Actor
from certificates.eligibility import japan_today
from certificates.lifecycle import issuance_void
from certificates.models import Fee, IssuanceRecord, IssuanceStop, IssuedCertificateNumber
from certificates.services import (
    fee_delete,
    fee_editable,
    fee_save,
    issuance_stop_create,
    issuance_stop_lift,
)
from residents.admin_mixins import AuditedResidentDataAdminMixin
from residents.models import Resident
from staff.roles import VOID_PERMISSION


class IssuedNumberInline(admin.TabularInline):
    model = IssuedCertificateNumber
    # The check code is not shown: it proves possession of the paper at /verify/.
    fields = ("copy_index", "number")
    readonly_fields = ("copy_index", "number")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VoidReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("取消理由"),
        max_length=200,
        error_messages={"required": _("取消理由を入力してください。")},
        widget=forms.TextInput(attrs={"size": 60}),
        help_text=_("交付記録と監査ログに残ります(個人名は書かないでください)。"),
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(gettext("取消理由を入力してください。"))
        return reason


class FeeForm(forms.ModelForm):
    class Meta:
        model = Fee
        fields = ("cert_type", "amount_yen", "effective_from")

    def clean_effective_from(self) -> date:
        # Said on the form; fee_save refuses it again (a past start would rewrite what was charged).
        value: date = self.cleaned_data["effective_from"]
        if value <= japan_today(timezone.now()):
            raise forms.ValidationError(
                gettext("適用開始日は明日以降の日付にしてください(過去の手数料は変更できません)。")
            )
        return value


@admin.register(IssuanceRecord)
class IssuanceRecordAdmin(AuditedResidentDataAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "numbers_display",
        "cert_type",
        "status",
        "copies",
        "fee_total",
        "terminal_label",
        "issued_at",
    )
    list_filter: ClassVar[tuple[Any, ...]] = ("status", "cert_type", "issued_at")
    search_fields = ("=numbers__number", "=holder_resident_code")
    search_help_text = _("交付番号または住民番号(完全一致)で検索します。")
    date_hierarchy = "issued_at"
    inlines = (IssuedNumberInline,)
    actions = ("void_selected",)
    show_full_result_count = False  # the table grows without bound: no COUNT(*) per page

    def get_queryset(self, request: HttpRequest) -> QuerySet[IssuanceRecord]:
        return super().get_queryset(request).prefetch_related("numbers")

    def audit_resident_ids(self, objects: Iterable[Any]) -> list[int]:
        # A record names its holder and the persons printed (SPEC §6: clerks' views are audited).
        ids: set[int] = set()
        for record in objects:
            ids.add(int(record.holder_resident_id))
            ids.update(int(pk) for pk in record.printed_resident_ids)
        return sorted(ids)

    @admin.display(description=_("交付番号"))
    def numbers_display(self, obj: IssuanceRecord) -> str:
        numbers = [n.number for n in obj.numbers.all()]
        if not numbers:
            return ""
        if len(numbers) == 1:
            return numbers[0]
        others = len(numbers) - 1
        return ngettext("%(first)s 他%(others)d通", "%(first)s 他%(others)d通", others) % {
            "first": numbers[0],
            "others": others,
        }

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in IssuanceRecord._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing only: voiding goes through issuance_void (audited), never a form edit.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_void_permission(self, request: HttpRequest) -> bool:
        """係長 and the system administrator (staff/roles.py)."""
        return bool(request.user.has_perm(VOID_PERMISSION))

    @admin.action(description=_("選択した交付を取り消す(理由を入力)"), permissions=["void"])
    def void_selected(self, request: HttpRequest, queryset: QuerySet[IssuanceRecord]) -> HttpResponse | None:
        """First POST: ask for the reason. Second POST (``confirm``): void each through the service."""
        form = VoidReasonForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            actor = Actor.user(request.user)
            voided = 0
            for record in queryset:
                if record.status == IssuanceRecord.Status.VOIDED:
                    continue
                issuance_void(issuance_id=record.pk, reason=form.cleaned_data["reason"], actor=actor)
                voided += 1
            self.message_user(
                request,
                ngettext(
                    "%(count)d件の交付を取り消しました。証明書の確認(/verify/)では「無効」と表示されます。",
                    "%(count)d件の交付を取り消しました。証明書の確認(/verify/)では「無効」と表示されます。",
                    voided,
                )
                % {"count": voided},
                messages.SUCCESS,
            )
            return None
        records = list(queryset.prefetch_related("numbers"))
        # The confirmation lists the chosen records like the change list does: a read, audited alike.
        self._audit_admin(request, action="admin.resident_list", objects=records, page="void_confirm")
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("交付の取消"),
            "opts": self.model._meta,
            "records": records,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/reports/void_confirm.html", context)


@admin.register(IssuanceStop)
class IssuanceStopAdmin(AuditedResidentDataAdminMixin, admin.ModelAdmin):
    list_display = ("resident_code", "reason", "until", "created_at", "created_by", "lifted_at")
    list_filter = ("lifted_at",)
    search_fields = ("=resident_code",)
    list_select_related = ("created_by",)
    actions = ("lift_selected",)

    _ADD_FIELDS = ("resident_code", "reason", "until")
    _VIEW_FIELDS = ("resident_code", "reason", "until", "created_at", "created_by", "lifted_at", "lifted_by")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self._ADD_FIELDS if obj is None else self._VIEW_FIELDS

    def audit_resident_ids(self, objects: Iterable[Any]) -> list[int]:
        codes = {stop.resident_code for stop in objects}
        if not codes:
            return []
        return sorted(Resident.objects.filter(resident_code__in=codes).values_list("pk", flat=True))

    def audit_payload(self, objects: list[Any]) -> dict[str, Any]:
        # A stop may name a resident the mirror does not hold (moved out and erased since, or set
        # ahead of the feed): the event then names the stops shown, by id, so that it still says
        # whom the page showed. Never the code itself (it may look like a My Number to the log).
        known = set(
            Resident.objects.filter(resident_code__in={stop.resident_code for stop in objects}).values_list(
                "resident_code", flat=True
            )
        )
        return {
            "stops": sorted(stop.pk for stop in objects),
            "stops_not_in_mirror": sorted(stop.pk for stop in objects if stop.resident_code not in known),
        }

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

    # Lifting needs the change permission (係長): a clerk who may only view stops never sees it.
    @admin.action(description=_("選択した交付停止を解除する"), permissions=["change"])
    def lift_selected(self, request: HttpRequest, queryset: QuerySet[IssuanceStop]) -> None:
        lifted = 0
        for stop in queryset.filter(lifted_at__isnull=True):
            issuance_stop_lift(stop_id=stop.pk, actor=Actor.user(request.user))
            lifted += 1
        self.message_user(
            request,
            ngettext("%(count)d件の交付停止を解除しました。", "%(count)d件の交付停止を解除しました。", lifted)
            % {"count": lifted},
            messages.SUCCESS,
        )


@admin.register(Fee)
class FeeAdmin(admin.ModelAdmin):
    list_display = ("cert_type", "amount_yen", "effective_from", "in_force")
    list_filter = ("cert_type",)
    ordering = ("cert_type", "-effective_from")
    form = FeeForm

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A past fee explains past issuances' fees: superseded by a newer row, never deleted.
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A fee in force or superseded is read-only for everyone: a new amount is a new row.
        if obj is not None and not fee_editable(fee=obj, today=japan_today(timezone.now())):
            return False
        return super().has_change_permission(request, obj)

    # Through the services: every fee change is audited (with the clerk's true address and the
    # request id) and re-checked against the actor's permission.
    def save_model(self, request: HttpRequest, obj: Fee, form: ModelForm, change: bool) -> None:
        staff = staff_request_context(request)
        fee_save(
            fee=obj,
            actor=staff.actor,
            today=japan_today(timezone.now()),
            source=staff.source,
            request_id=staff.request_id,
        )

    def delete_model(self, request: HttpRequest, obj: Fee) -> None:
        staff = staff_request_context(request)
        fee_delete(fee_id=obj.pk, actor=staff.actor, source=staff.source, request_id=staff.request_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Fee]) -> None:
        staff = staff_request_context(request)
        for fee in queryset:
            fee_delete(fee_id=fee.pk, actor=staff.actor, source=staff.source, request_id=staff.request_id)

    @admin.display(description=_("本日の適用"), boolean=True)
    def in_force(self, obj: Fee) -> bool:
        today = japan_today(timezone.now())
        latest = (
            Fee.objects.filter(cert_type=obj.cert_type, effective_from__lte=today)
            .order_by("-effective_from")
            .values_list("pk", flat=True)
            .first()
        )
        return latest == obj.pk
