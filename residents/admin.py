"""The mirror for clerks: read-only (only the core-system feed writes it, SPEC §5), in Japanese by
default (English through the language switch).

The My Number is never shown nor searchable. The ModelAdmins stay plain so that a mixin auditing
clerks' views of resident data (SPEC §6) can be added in front of them.
"""

from __future__ import annotations

import base64
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from residents.admin_mixins import AuditedResidentDataAdminMixin
from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment


class MirrorAdmin(admin.ModelAdmin):
    """Mirror rows are never added, changed or deleted by hand."""

    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Household)
class HouseholdAdmin(AuditedResidentDataAdminMixin, MirrorAdmin):
    list_display = ("household_code", "address", "head_resident_code")
    search_fields = ("=household_code", "address")


@admin.register(Resident)
class ResidentAdmin(AuditedResidentDataAdminMixin, MirrorAdmin):
    list_display = (
        "resident_code",
        "family_name",
        "given_name",
        "family_name_kana",
        "given_name_kana",
        "birth_date",
        "status",
        "household",
        "synced_at",
    )
    list_filter = ("status", "support_measure", "pending_change", "adult_ward")
    # Never the My Number: not searchable, not displayed (it is excluded from the form below).
    search_fields = ("=resident_code", "family_name", "given_name", "family_name_kana", "given_name_kana")
    list_select_related = ("household",)
    raw_id_fields = ("household",)
    exclude = ("my_number_encrypted",)


@admin.register(SealRegistration)
class SealRegistrationAdmin(AuditedResidentDataAdminMixin, MirrorAdmin):
    list_display = ("registration_number", "resident", "status", "registered_on", "abolished_on")
    list_filter = ("status",)
    search_fields = ("=registration_number", "=resident__resident_code")
    list_select_related = ("resident",)
    raw_id_fields = ("resident",)
    # The PNG is shown as a picture, never as bytes.
    exclude = ("seal_image_png",)
    readonly_fields = ("seal_image",)

    @admin.display(description=_("印影"))
    def seal_image(self, obj: SealRegistration) -> str:
        if not obj.seal_image_png:
            return "-"
        encoded = base64.b64encode(bytes(obj.seal_image_png)).decode("ascii")
        return format_html(
            '<img src="data:image/png;base64,{}" alt="{}" style="max-width:160px">', encoded, gettext("印影")
        )


@admin.register(TaxAssessment)
class TaxAssessmentAdmin(AuditedResidentDataAdminMixin, MirrorAdmin):
    list_display = ("resident", "fiscal_year", "declared", "total_income", "total_tax", "released_on")
    list_filter = ("fiscal_year", "declared")
    search_fields = ("=resident__resident_code",)
    list_select_related = ("resident",)
    raw_id_fields = ("resident",)


@admin.register(TaxPayment)
class TaxPaymentAdmin(AuditedResidentDataAdminMixin, MirrorAdmin):
    list_display = ("resident", "fiscal_year", "tax_item", "assessed", "paid", "unpaid")
    list_filter = ("fiscal_year", "tax_item")
    search_fields = ("=resident__resident_code",)
    list_select_related = ("resident",)
    raw_id_fields = ("resident",)


@admin.register(CardLink)
class CardLinkAdmin(AuditedResidentDataAdminMixin, MirrorAdmin):
    list_display = ("serial", "credential", "issuer", "resident", "active_from")
    list_filter = ("credential",)
    search_fields = ("=serial", "=resident__resident_code")
    list_select_related = ("resident",)
    raw_id_fields = ("resident",)
