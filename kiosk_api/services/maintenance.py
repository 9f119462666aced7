"""The service calendar: maintenance windows set by 係長, during which kiosks get SERVICE_CLOSED."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from audit.services import Actor, audit_record
from kiosk_api import door
from kiosk_api.models import MaintenanceWindow
from staff.roles import actor_permission_require


def _utc_iso(moment: datetime) -> str:
    # One spelling for a moment, whether it comes from the form (local time) or the database (UTC),
    # so that an unchanged date never shows up as a change.
    return moment.astimezone(UTC).isoformat()


def _audit_window(
    window: MaintenanceWindow,
    *,
    action: str,
    actor: Actor,
    source: str,
    request_id: str,
    before: MaintenanceWindow | None = None,
) -> None:
    # The reason is the clerk's free text: it stays in the calendar, not in the audit payload (a
    # change says only whether it changed). The dates are not personal data.
    payload: dict[str, Any] = {
        "window": window.pk,
        "starts_at": _utc_iso(window.starts_at),
        "ends_at": _utc_iso(window.ends_at),
    }
    if before is not None:
        payload["changed"] = {
            field: [_utc_iso(getattr(before, field)), _utc_iso(getattr(window, field))]
            for field in ("starts_at", "ends_at")
            if getattr(before, field) != getattr(window, field)
        }
        payload["reason_changed"] = before.reason != window.reason
    audit_record(actor=actor, action=action, payload=payload, source=source, request_id=request_id)


def maintenance_window_save(
    *, window: MaintenanceWindow, actor: Actor, source: str = "", request_id: str = ""
) -> MaintenanceWindow:
    """Add a maintenance window, or save a changed one (係長), audited (a change with its old and new
    dates); every app process sees the new calendar at once."""
    adding = window.pk is None
    action = "calendar.maintenance_added" if adding else "calendar.maintenance_changed"
    permission = "kiosk_api.add_maintenancewindow" if adding else "kiosk_api.change_maintenancewindow"
    actor_permission_require(actor=actor, permission=permission, action=action)
    with transaction.atomic():
        before = None if adding else MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
        window.save()
        _audit_window(window, action=action, actor=actor, source=source, request_id=request_id, before=before)
    door.maintenance_cache_clear()  # after the commit: a reader never caches the old windows anew
    return window


def maintenance_window_delete(
    *, window_id: int, actor: Actor, source: str = "", request_id: str = ""
) -> None:
    """Delete a maintenance window (係長), audited."""
    action = "calendar.maintenance_deleted"
    actor_permission_require(actor=actor, permission="kiosk_api.delete_maintenancewindow", action=action)
    with transaction.atomic():
        window = MaintenanceWindow.objects.select_for_update().get(pk=window_id)
        _audit_window(window, action=action, actor=actor, source=source, request_id=request_id)
        window.delete()
    door.maintenance_cache_clear()
