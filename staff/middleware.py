"""With ``STAFF_OTP_REQUIRED`` on, a session signed in by password alone is nobody.

Placed after django-otp's ``OTPMiddleware`` (which gives ``request.user.is_verified()``). A session
whose user is signed in but not OTP-verified — the first sign-in of an account that must still
enrol, or a session made before the setting was turned on — is treated as anonymous by every view
except the few marked ``otp_pending_allowed`` (the enrolment page). So the admin, /audit/ and any
later staff screen send it to the login page, and none of them needs its own check to stay closed.
With the setting off this does nothing: a code is then optional (SPEC §9).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])


def otp_pending_allowed(view: ViewFunc) -> ViewFunc:
    """Mark a view that a signed-in but not yet OTP-verified user may reach (enrolment only)."""
    view.staff_otp_pending_allowed = True  # type: ignore[attr-defined]
    return view


class _UnverifiedAnonymous(AnonymousUser):
    def is_verified(self) -> bool:
        return False


class StaffOtpRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> None:
        if not settings.STAFF_OTP_REQUIRED:
            return
        user = request.user
        if not user.is_authenticated or user.is_verified():  # type: ignore[attr-defined]
            return
        if getattr(view_func, "staff_otp_pending_allowed", False):
            return
        request.user = _UnverifiedAnonymous()
