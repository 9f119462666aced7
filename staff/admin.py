"""Staff accounts in the admin: the second factor's state, and a system administrator's recovery.

Resetting a second factor (the devices are removed; the person enrols again at their next
sign-in) and lifting a user name's lockout are for システム管理者 (superusers) only: offered to
nobody else, and the services check it again.

Every change of a staff account or a role (groups, own permissions, the superuser, staff and active
flags, a password set, an account or role added or deleted) is an audit event by the acting
administrator, in the transaction of the change (staff/services.py).

django-otp's own TOTP device admin is taken away: it would show every secret and its QR code to
whoever may view devices, and a secret is shown once only, to the person enrolling.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.request_context import client_address, request_id_of
from staff.selectors import role_state_of, staff_state_of
from staff.services import (
    role_changed_record,
    role_created_record,
    role_delete,
    staff_changed_record,
    staff_created_record,
    staff_delete,
    staff_lockout_reset,
    staff_otp_reset,
)

User = get_user_model()

# The state before a change, read in save_model (before the form's many-to-many fields are saved)
# and compared in save_related (after them), on the request that makes the change.
_STATE_BEFORE_ATTRIBUTE = "_staff_state_before"
# Fields that staff.changed reports by value; any other changed field is reported by name only.
_STATE_FIELDS = frozenset(
    {"username", "groups", "user_permissions", "is_superuser", "is_staff", "is_active"}
    | {"password", "password1", "password2", "usable_password"}
)

if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


def _signed_out_after_own_reset(request: HttpRequest) -> None:
    # The reset ended every session of the account, this request's too: sign it out here, so the
    # response starts a fresh session instead of failing to save the deleted one.
    logout(request)


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
        own = False
        for target in queryset:
            staff_otp_reset(
                actor_user=request.user,
                target=target,
                source=client_address(request),
                request_id=request_id_of(request),
            )
            own = own or target.pk == request.user.pk
        if own:
            _signed_out_after_own_reset(request)
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

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            setattr(request, _STATE_BEFORE_ATTRIBUTE, staff_state_of(user_id=obj.pk))
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The admin runs save_model, save_related and this record in one transaction.
        super().save_related(request, form, formsets, change)
        user = form.instance
        after = staff_state_of(user_id=user.pk)
        if not change:
            # No TOTP device is made here (create_staff makes one and prints its secret): the
            # account enrols at its first sign-in, so whoever first knows the password enrols. Only
            # a sign-in that typed that password may enrol (staff/views.py), which is acceptable:
            # hand the password to the person only, as create_staff's output is handed.
            staff_created_record(
                actor_user=request.user,
                user_id=user.pk,
                state=after,
                source=client_address(request),
                request_id=request_id_of(request),
            )
            return
        staff_changed_record(
            actor_user=request.user,
            user_id=user.pk,
            before=getattr(request, _STATE_BEFORE_ATTRIBUTE),
            after=after,
            other_fields=[name for name in form.changed_data if name not in _STATE_FIELDS],
            source=client_address(request),
            request_id=request_id_of(request),
        )

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        # Django's page answers a redirect both on success and on a conflicting submission: the
        # stored hash, compared before and after, tells whether a password was really set.
        with transaction.atomic():
            target = self.get_object(request, unquote(id))
            hash_before = target.password if target is not None else None
            response = super().user_change_password(request, id, form_url)
            if target is not None and request.method == "POST":
                hash_after = User.objects.filter(pk=target.pk).values_list("password", flat=True).first()
                if hash_after != hash_before:
                    state = staff_state_of(user_id=target.pk)
                    staff_changed_record(
                        actor_user=request.user,
                        user_id=target.pk,
                        before=state,
                        after=state,
                        credentials_set=True,
                        source=client_address(request),
                        request_id=request_id_of(request),
                    )
        return response

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        staff_delete(
            actor_user=request.user,
            target=obj,
            source=client_address(request),
            request_id=request_id_of(request),
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for target in queryset:
                self.delete_model(request, target)

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
            if target.pk == request.user.pk:
                _signed_out_after_own_reset(request)
                return HttpResponseRedirect(reverse("admin:login"))
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


class StaffGroupAdmin(GroupAdmin):
    """Roles (groups): a change of what a role may do is audited like a change of an account."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            setattr(request, _STATE_BEFORE_ATTRIBUTE, role_state_of(group_id=obj.pk))
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        group = form.instance
        after = role_state_of(group_id=group.pk)
        source, request_id = client_address(request), request_id_of(request)
        if change:
            role_changed_record(
                actor_user=request.user,
                group_id=group.pk,
                before=getattr(request, _STATE_BEFORE_ATTRIBUTE),
                after=after,
                source=source,
                request_id=request_id,
            )
        else:
            role_created_record(
                actor_user=request.user, group_id=group.pk, state=after, source=source, request_id=request_id
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        role_delete(
            actor_user=request.user,
            group=obj,
            source=client_address(request),
            request_id=request_id_of(request),
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for group in queryset:
                self.delete_model(request, group)


if admin.site.is_registered(Group):
    admin.site.unregister(Group)
admin.site.register(Group, StaffGroupAdmin)
