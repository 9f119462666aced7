"""django-axes' admin, narrowed: its login logs are records of who signed in, not to be erased.

Only the system administrator sees the three axes models (no role holds their permissions). The
failed-attempt rows stay deletable by the administrator, since deleting one is how a locked account
is unlocked; the access log and the failure log are read-only for everyone (staff/roles.py's
matrix), like the audit log.

axes' 「Clean up expired attempts」 action is dropped: it needs an attribute that only axes' login
handling puts on a request, so in the admin it fails with a server error; axes removes expired
attempts itself at every login.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.http import HttpRequest


class _ReadOnlyLogMixin:
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LockoutAdmin(AccessAttemptAdmin):
    actions: list[str] = []


class ReadOnlyAccessLogAdmin(_ReadOnlyLogMixin, AccessLogAdmin):
    pass


class ReadOnlyAccessFailureLogAdmin(_ReadOnlyLogMixin, AccessFailureLogAdmin):
    pass


def axes_admin_restrict() -> None:
    """Replace axes' admins with the narrowed ones above (idempotent)."""
    replacements: list[tuple[Any, Any]] = [
        (AccessAttempt, LockoutAdmin),
        (AccessLog, ReadOnlyAccessLogAdmin),
        (AccessFailureLog, ReadOnlyAccessFailureLogAdmin),
    ]
    for model, model_admin in replacements:
        if isinstance(admin.site._registry.get(model), model_admin):
            continue
        if admin.site.is_registered(model):
            admin.site.unregister(model)
        admin.site.register(model, model_admin)
