"""The issuance records' admin with what only the kiosks know: the store chain and terminal filters,
and the reports by store chain with the settlement CSV for each chain (SPEC §6).

certificates/admin.py registers the records' admin without them, since certificates knows no
terminal; this module, above both apps, registers it again with them. The reports hang off the
records' admin as custom views, gated by the permission to view issuance records; their URL names
stay ``admin:certificates_issuance_reports`` and ``admin:certificates_issuance_settlement``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certificates.admin import IssuanceRecordAdmin
from certificates.eligibility import japan_today
from certificates.models import IssuanceRecord
from kiosk_api.models import KioskIssuance, Terminal
from oversight import reports


class ChainFilter(admin.SimpleListFilter):
    """The store chain, through the kiosk issuance that made the record (kiosk_api owns that link)."""

    title = _("チェーン")
    parameter_name = "chain"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in Terminal.Chain.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        linked = KioskIssuance.objects.filter(terminal__chain=self.value(), issuance_record_id__isnull=False)
        return queryset.filter(pk__in=linked.values("issuance_record_id"))


class TerminalFilter(admin.SimpleListFilter):
    title = _("端末")
    parameter_name = "terminal"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(t.pk), str(t)) for t in Terminal.objects.order_by("chain", "store_code", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        linked = KioskIssuance.objects.filter(terminal_id=int(value), issuance_record_id__isnull=False)
        return queryset.filter(pk__in=linked.values("issuance_record_id"))


class ReportForm(forms.Form):
    month = forms.CharField(label=_("対象月(YYYY-MM)"), required=False, max_length=10)
    year = forms.IntegerField(label=_("対象年"), required=False, min_value=2000, max_value=2100)

    def clean_month(self) -> date | None:
        raw = str(self.cleaned_data.get("month") or "").strip()
        if not raw:
            return None
        try:
            year, month = (int(part) for part in raw.split("-", 1))
            return date(year, month, 1)
        except ValueError:
            raise forms.ValidationError(gettext("対象月は 2026-11 の形で入力してください。")) from None


admin.site.unregister(IssuanceRecord)


@admin.register(IssuanceRecord)
class IssuanceRecordByChainAdmin(IssuanceRecordAdmin):
    list_filter = ("status", "cert_type", ChainFilter, TerminalFilter, "issued_at")
    change_list_template = "admin/reports/issuancerecord_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("reports/", view(self.reports_view), name="certificates_issuance_reports"),
            path(
                "reports/settlement.csv", view(self.settlement_view), name="certificates_issuance_settlement"
            ),
            *super().get_urls(),
        ]

    def _require_reports(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied(gettext("帳票を表示する権限がありません。"))

    def reports_view(self, request: HttpRequest) -> HttpResponse:
        self._require_reports(request)
        form = ReportForm(request.GET or None)
        today = japan_today(timezone.now())
        month = today.replace(day=1)
        year = today.year
        if form.is_valid():
            month = form.cleaned_data["month"] or month
            year = form.cleaned_data["year"] or month.year
        daily = reports.issuance_report_daily(month=month)
        monthly = reports.issuance_report_monthly(year=year)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("交付件数・手数料の集計"),
            "opts": self.model._meta,
            "form": form,
            "month": month,
            "year": year,
            "sections": [
                (
                    gettext("%(month)s(日別)") % {"month": date_format(month, "YEAR_MONTH_FORMAT")},
                    daily,
                    "day",
                ),
                (gettext("%(year)s年(月別)") % {"year": year}, monthly, "month"),
            ],
            "chains": [(str(v), str(label)) for v, label in Terminal.Chain.choices],
            "settlement_url": reverse("admin:certificates_issuance_settlement"),
        }
        return TemplateResponse(request, "admin/reports/issuance_reports.html", context)

    def settlement_view(self, request: HttpRequest) -> HttpResponse:
        self._require_reports(request)
        form = ReportForm(request.GET)
        if not form.is_valid() or form.cleaned_data["month"] is None:
            messages.error(request, gettext("対象月(YYYY-MM)を指定してください。"))
            return HttpResponseRedirect(reverse("admin:certificates_issuance_reports"))
        month: date = form.cleaned_data["month"]
        chain = request.GET.get("chain") or None
        if chain is not None and chain not in Terminal.Chain.values:
            messages.error(request, gettext("チェーンの指定が正しくありません。"))
            return HttpResponseRedirect(reverse("admin:certificates_issuance_reports"))
        body = reports.settlement_csv(month=month, chain=chain)
        # A BOM so that spreadsheet software in Japan opens the UTF-8 file without mojibake.
        response = HttpResponse("\ufeff" + body, content_type="text/csv; charset=utf-8")
        name = f"settlement-{month:%Y-%m}{'-' + chain if chain else ''}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
