"""Staff roles and their permissions, least privilege first (issue 6 extends the lists).

- 窓口職員 (clerk): reads the mirror, issuance records and the sync state; runs reports.
- 係長 (supervisor): a clerk who may also void issuances, stop kiosk issuance for a resident, manage
  terminals, the service calendar and fees.
- 監査 (auditor): the audit views only; no admin access to personal data.
- システム管理者 (system administrator): a superuser; kept to as few people as possible.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

CLERK = "窓口職員"
SUPERVISOR = "係長"
AUDITOR = "監査"

_CLERK_PERMISSIONS = [
    "residents.view_household",
    "residents.view_resident",
    "residents.view_sealregistration",
    "residents.view_taxassessment",
    "residents.view_taxpayment",
    "residents.view_cardlink",
    "sync.view_batch",
    "sync.view_quarantinedrecord",
    "sync.view_residentblock",
    "sync.view_syncalert",
]
_SUPERVISOR_EXTRA: list[str] = []
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
