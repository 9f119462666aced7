"""The staff sign-in form of SPEC §9 (user name, password and TOTP code in one form) and the
enrolment form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _

from staff.selectors import staff_has_confirmed_device, staff_otp_required
from staff.services import staff_otp_verify

# One message for every refusal: it must not tell which of the three was wrong (nor whether the
# account exists, is staff or has a device).
INVALID_LOGIN = _("ユーザー名、パスワードまたは確認コードが正しくありません。")


def _code_widget() -> forms.TextInput:
    return forms.TextInput(
        attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*", "size": 8}
    )


def _normalise_code(value: str) -> str:
    # Authenticator apps show the code as "123 456"; people type it that way.
    return "".join((value or "").split())


class StaffLoginForm(AdminAuthenticationForm):
    """The admin's login form plus ``otp_token``.

    The password is checked first (Django's ``authenticate``, through django-axes). With the
    password right, the code decides: a code given must be right whatever ``STAFF_OTP_REQUIRED``
    says; with it on, a missing code is refused too, unless the account has no confirmed device
    yet, in which case the sign-in only leads to enrolment (``needs_enrolment``; the
    ``StaffOtpRequiredMiddleware`` keeps such a session out of everything else).

    Every refusal after a right password is reported to django-axes as a failed login, exactly as
    a wrong password is: otherwise a known password would leave the 10^6 codes open to guessing.
    """

    error_messages = {
        "invalid_login": INVALID_LOGIN,
        "inactive": INVALID_LOGIN,
    }

    otp_token = forms.CharField(
        label=_("確認コード(6桁)"), required=False, max_length=16, widget=_code_widget()
    )

    def __init__(self, request: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.needs_enrolment = False

    def confirm_login_allowed(self, user: Any) -> None:
        if not (user.is_active and user.is_staff):
            self._refuse()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.user_cache
        if user is None:
            return cleaned  # a blank user name or password: the field's own error says so
        token = _normalise_code(self.cleaned_data.get("otp_token", ""))
        if token:
            device = staff_otp_verify(user=user, token=token)
            if device is None:
                self._refuse()
            # django-otp marks the session verified when auth.login sees this attribute.
            user.otp_device = device  # type: ignore[attr-defined]
        elif staff_otp_required():
            if staff_has_confirmed_device(user=user):
                self._refuse()
            self.needs_enrolment = True
        return cleaned

    def _refuse(self) -> None:
        user_login_failed.send(
            sender=__name__,
            credentials={"username": self.cleaned_data.get("username", "")},
            request=self.request,
        )
        self.user_cache = None
        raise self.get_invalid_login_error()


class OtpEnrolForm(forms.Form):
    otp_token = forms.CharField(label=_("確認コード(6桁)"), max_length=16, widget=_code_widget())

    def clean_otp_token(self) -> str:
        return _normalise_code(self.cleaned_data["otp_token"])
