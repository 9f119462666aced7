"""Staff accounts in the admin: the second factor's state, and a system administrator's recovery.

Resetting a second factor (the devices are removed; the person enrols again at their next
sign-in) and lifting a user name's lockout are for システム管理者 (superusers) only: offered to
nobody else, and the services check it again.

django-otp's own TOTP device admin is taken away: it would show every secret and its QR code to
whoever may view devices, and a secret is shown once only, to the person enrolling.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.request_context import client_address, request_id_of
from staff.services import staff_lockout_reset, staff_otp_reset

User = get_user_model()

if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


class StaffUserAdmin(UserAdmin):
    list_display = ("username", "first_name", "last_name", "is_staff", "is_superuser", "otp_enrolled")
    actions = ["otp_reset_action", "lockout_reset_action"]
    change_form_template = "staff/user_change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        confirmed = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_otp=Exists(confirmed))

    @admin.display(description=_("二要素認証"), boolean=True, ordering="has_otp")
    def otp_enrolled(self, obj: Any) -> bool:
        return bool(getattr(obj, "has_otp", False))

    def has_superuser_only_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    @admin.action(
        description=_("二要素認証をリセット(次回ログイン時に再設定)"), permissions=["superuser_only"]
    )
    def otp_reset_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for target in queryset:
            staff_otp_reset(
                actor_user=request.user,
                target=target,
                source=client_address(request),
                request_id=request_id_of(request),
            )
        self.message_user(
            request,
            gettext("%(count)d 件の二要素認証をリセットしました。") % {"count": len(queryset)},
            messages.SUCCESS,
        )

    @admin.action(description=_("ログインのロックを解除"), permissions=["superuser_only"])
    def lockout_reset_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for target in queryset:
            staff_lockout_reset(
                actor_user=request.user,
                target=target,
                source=client_address(request),
                request_id=request_id_of(request),
            )
        self.message_user(
            request,
            gettext("%(count)d 件のロックを解除しました。") % {"count": len(queryset)},
            messages.SUCCESS,
        )

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:pk>/otp-reset/",
                self.admin_site.admin_view(self.otp_reset_view),
                name="staff_user_otp_reset",
            )
        ]
        return extra + super().get_urls()

    def otp_reset_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        """The button on a user's page: a confirmation (GET), then the reset (POST)."""
        if not (request.user.is_active and request.user.is_superuser):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        target = get_object_or_404(User, pk=pk)
        change_url = reverse("admin:auth_user_change", args=[target.pk])
        if request.method == "POST":
            staff_otp_reset(
                actor_user=request.user,
                target=target,
                source=client_address(request),
                request_id=request_id_of(request),
            )
            self.message_user(
                request,
                gettext("%(name)s の二要素認証をリセットしました。次回ログイン時に再設定します。")
                % {"name": target.get_username()},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("二要素認証のリセット"),
            "target": target,
            "opts": self.opts,
            "change_url": change_url,
            "devices": TOTPDevice.objects.filter(user=target).count(),
        }
        return TemplateResponse(request, "staff/otp_reset_confirm.html", context)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
