"""Staff roles and their permissions, least privilege first (issue 6).

- 窓口職員 (clerk): reads the mirror, issuance records, stops, fees, terminals, the service calendar
  and the sync state; runs the reports (gated by ``certificates.view_issuancerecord``). Changes nothing.
- 係長 (supervisor): a clerk who may also void issuances (``certificates.change_issuancerecord`` is
  the void permission: the record itself is never edited through a form), set and lift 交付停止,
  manage terminals (register, suspend, rotate), the service calendar (maintenance windows) and fees.
- 監査 (auditor): the audit views at /audit/ only, no admin permission at all. Auditors are staff
  only so that they can sign in through the admin's login page, which /audit/ uses.
- システム管理者 (system administrator): a superuser; kept to as few people as possible.

Nobody but the system administrator may add, change or delete mirror rows (they come from the
core-system feed), kiosk sessions or stored documents, or anything in the audit log.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.http import HttpRequest

CLERK = "窓口職員"
SUPERVISOR = "係長"
AUDITOR = "監査"

REPORTS_PERMISSION = "certificates.view_issuancerecord"
VOID_PERMISSION = "certificates.change_issuancerecord"

_CLERK_PERMISSIONS = [
    # The mirror (read-only for everyone: the core system is its only writer).
    "residents.view_household",
    "residents.view_resident",
    "residents.view_sealregistration",
    "residents.view_taxassessment",
    "residents.view_taxpayment",
    "residents.view_cardlink",
    # The sync dashboard.
    "sync.view_batch",
    "sync.view_quarantinedrecord",
    "sync.view_residentblock",
    "sync.view_syncalert",
    "sync.view_synccursor",
    # Issuance records (and the reports built on them), stops and fees.
    "certificates.view_issuancerecord",
    "certificates.view_issuedcertificatenumber",
    "certificates.view_issuancestop",
    "certificates.view_fee",
    # Terminals and the service calendar, to answer a store's phone call.
    "kiosk_api.view_terminal",
    "kiosk_api.view_maintenancewindow",
    "kiosk_api.view_kioskalert",
    "kiosk_api.view_crlsnapshot",
]
_SUPERVISOR_EXTRA = [
    VOID_PERMISSION,
    "certificates.add_issuancestop",
    "certificates.change_issuancestop",  # lifting a stop
    "certificates.add_fee",
    "certificates.change_fee",
    "kiosk_api.add_terminal",
    "kiosk_api.change_terminal",  # suspend, reactivate, rotate, revoke
    "kiosk_api.add_maintenancewindow",
    "kiosk_api.change_maintenancewindow",
    "kiosk_api.delete_maintenancewindow",
    "sync.run_sync",  # 「今すぐ連携」 on the sync dashboard
]
_AUDITOR_PERMISSIONS: list[str] = []

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CLERK: _CLERK_PERMISSIONS,
    SUPERVISOR: _CLERK_PERMISSIONS + _SUPERVISOR_EXTRA,
    AUDITOR: _AUDITOR_PERMISSIONS,
}


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def roles_ensure() -> dict[str, Group]:
    """Create the role groups and set exactly their permissions (idempotent; run after migrate)."""
    groups: dict[str, Group] = {}
    for name, permissions in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([_permission(p) for p in permissions])
        groups[name] = group
    return groups


def admin_site_has_permission(request: HttpRequest) -> bool:
    """Who may enter the admin at all: active staff, except auditors (their door is /audit/).

    Auditors are staff only so that they can use the staff login page; they read the audit log and
    nothing else, so the admin's index is closed to them too (least privilege).
    """
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    return user.is_superuser or not user.groups.filter(name=AUDITOR).exists()
