"""The staff sign-in (the admin's login page, which /audit/ uses too) and TOTP enrolment."""

from __future__ import annotations

import segno
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView, redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login

from audit.request_context import client_address, request_id_of
from staff.forms import OtpEnrolForm, StaffLoginForm
from staff.middleware import otp_pending_allowed
from staff.selectors import staff_has_confirmed_device, staff_user_named
from staff.services import (
    ENROLMENT_WINDOW,
    staff_login_record,
    staff_otp_enrol_confirm,
    staff_otp_enrolment_device,
    totp_secret_base32,
)

# The session flag that lets a password sign-in enrol: the time (POSIX seconds) until which it may.
# Set only by a sign-in that typed the password and needs enrolment; no other session has it (one
# left signed in across a second-factor reset is ended by the reset, and signing in as someone else
# flushes the session), and it lapses ten minutes after the sign-in that set it.
ENROL_UNTIL_KEY = "staff_otp_enrol_until"
# The unconfirmed device this session enrols with, so that each session has its own secret.
ENROL_DEVICE_KEY = "staff_otp_enrol_device"


class StaffLoginView(LoginView):
    form_class = StaffLoginForm
    template_name = "staff/login.html"

    def form_valid(self, form: StaffLoginForm) -> HttpResponse:  # type: ignore[override]
        user = form.get_user()
        response = super().form_valid(form)  # auth.login: the session is cycled or flushed here
        staff_login_record(
            user=user,
            succeeded=True,
            source=client_address(self.request),
            request_id=request_id_of(self.request),
            second_factor=getattr(user, "otp_device", None) is not None,
        )
        if form.needs_enrolment:
            self.request.session[ENROL_UNTIL_KEY] = (timezone.now() + ENROLMENT_WINDOW).timestamp()
            query = urlencode({REDIRECT_FIELD_NAME: self.get_success_url()})
            return HttpResponseRedirect(f"{reverse('staff:otp_enrol')}?{query}")
        return response

    def form_invalid(self, form: StaffLoginForm) -> HttpResponse:  # type: ignore[override]
        username = str(form.data.get("username", ""))
        staff_login_record(
            user=staff_user_named(username=username) if username else None,
            succeeded=False,
            source=client_address(self.request),
            request_id=request_id_of(self.request),
        )
        return super().form_invalid(form)


@login_not_required
def admin_login(request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponseBase:
    """``admin.site.login`` with the one-form sign-in of SPEC §9 (AdminSite.login's context and
    behaviour otherwise: an already permitted user goes to the index)."""
    site = admin.site
    if request.method == "GET" and site.has_permission(request):
        return HttpResponseRedirect(reverse("admin:index", current_app=site.name))
    context: dict[str, object] = {
        **site.each_context(request),
        "title": _("ログイン"),
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": request.user.get_username(),
    }
    if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
        context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=site.name)
    context.update(extra_context or {})
    request.current_app = site.name
    return StaffLoginView.as_view(extra_context=context)(request)


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


@otp_pending_allowed
@never_cache
@csrf_protect
@sensitive_post_parameters("otp_token")
def otp_enrol(request: HttpRequest) -> HttpResponseBase:
    """First sign-in of an account without a device: the QR code (otpauth:// URI) and the secret in
    base32, then the first code to confirm. The session is verified only once the code is right.

    Reached only by a signed-in user without a confirmed device whose session typed the password
    within the last minutes to get here (``ENROL_UNTIL_KEY``): being signed in is not enough, since
    a session may be older than the reset that made the account enrol again. The page is never
    cached, since it holds the secret.
    """
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff and _may_enrol(request)):
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    next_url = _safe_next(request)
    if staff_has_confirmed_device(user=user):
        # Enrolled already: a new device only after a system administrator's reset.
        return HttpResponseRedirect(next_url)
    device = staff_otp_enrolment_device(user=user, device_id=request.session.get(ENROL_DEVICE_KEY))
    request.session[ENROL_DEVICE_KEY] = device.pk
    form = OtpEnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if staff_otp_enrol_confirm(
            user=user,
            device=device,
            token=form.cleaned_data["otp_token"],
            source=client_address(request),
            request_id=request_id_of(request),
        ):
            device.refresh_from_db()
            request.session.pop(ENROL_UNTIL_KEY, None)
            request.session.pop(ENROL_DEVICE_KEY, None)
            request.session.cycle_key()
            otp_login(request, device)
            return HttpResponseRedirect(next_url)
        form.add_error(
            "otp_token",
            gettext("確認コードが正しくありません。時刻を確かめ、新しいコードを入力してください。"),
        )
    # otpauth://totp/<issuer>:<user name>?secret=...&issuer=... (OTP_TOTP_ISSUER in settings).
    uri = device.config_url
    qr_svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")
    context = {
        **admin.site.each_context(request),
        "title": _("確認コードの設定"),
        "form": form,
        "qr_svg": mark_safe(qr_svg),  # noqa: S308 - segno's own SVG, from a URI we built
        "secret": _grouped(totp_secret_base32(device)),
        "otpauth_uri": uri,
        "next": next_url,
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    response = render(request, "staff/otp_enrol.html", context)
    response.status_code = 400 if request.method == "POST" else 200
    return response


def _may_enrol(request: HttpRequest) -> bool:
    until = request.session.get(ENROL_UNTIL_KEY)
    return isinstance(until, int | float) and timezone.now().timestamp() < until


def _grouped(secret: str) -> str:
    """The base32 secret in groups of four, as people copy it by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
