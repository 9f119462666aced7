"""Staff roles, their permissions and the permission matrix, least privilege first.

- 窓口職員 (clerk): reads the mirror, issuance records, stops, fees, terminals, the service calendar
  and the sync state; runs the reports (gated by ``certificates.view_issuancerecord``). Changes nothing.
- 係長 (supervisor): a clerk who may also void issuances (``certificates.change_issuancerecord`` is
  the void permission: the record itself is never edited through a form), set and lift 交付停止,
  manage terminals (register, suspend, rotate), the service calendar (maintenance windows) and fees.
- 監査 (auditor): the audit views at /audit/ only, no admin permission at all. Auditors are staff
  only so that they can sign in through the admin's login page, which /audit/ uses.
- システム管理者 (system administrator): a superuser; kept to as few people as possible.

Nobody may add, change or delete mirror rows (they come from the core-system feed), issuance records,
kiosk sessions or stored documents, or anything in the audit log; the system administrator manages
accounts and groups, deletes fees and unlocks accounts.

``MATRIX`` below is the one table of what each role may see and do, page by page and action by
action; docs/roles.md is rendered from it (``manage.py roles_matrix``) and
tests/saga_konbini/test_permission_matrix.py walks the whole admin and /audit/ as every role and
fails on any difference, and on any admin page, action or audit view the table does not mention.

Services that change state check the actor again (``actor_permission_require``): a bug in a view
must not be enough to let a clerk act beyond the role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import wraps
from typing import Any

from django.contrib.admin import ModelAdmin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

from audit.models import AuditEvent
from audit.services import audit_record

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


def admin_actions_offered_only(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A change list that refuses, with 403, a POST of an action it does not offer this user.

    Django would answer a forged action with the list again (「操作が選択されていません」): nothing
    changes, but a clerk's forged 「一時停止」 should be refused as what it is, and counted as such in
    the server's logs. Every other view is returned as it is.
    """
    model_admin = getattr(view, "__self__", None)
    if getattr(view, "__name__", "") != "changelist_view" or not isinstance(model_admin, ModelAdmin):
        return view

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        action = request.POST.get("action") if request.method == "POST" else None
        if action and action not in model_admin.get_actions(request):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return guarded


def admin_site_has_permission(request: HttpRequest) -> bool:
    """Who may enter the admin at all: the system administrator, and active staff in 窓口職員 or 係長.

    Auditors are staff only so that they can use the staff login page; they read the audit log and
    nothing else, so the admin's index is closed to them too (least privilege). Staff in no role
    (an account whose role is not set yet) see nothing either, not even an empty index.
    """
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    names = set(user.groups.values_list("name", flat=True))
    return AUDITOR not in names and bool(names & {CLERK, SUPERVISOR})


# --- The permission matrix ---------------------------------------------------------------------
#
# Role keys of the matrix. "none" is a signed-in staff account in no role: it may do nothing but
# sign in and out; the walk test signs in as it too.
ROLE_CLERK = "clerk"
ROLE_SUPERVISOR = "supervisor"
ROLE_AUDITOR = "auditor"
ROLE_ADMIN = "admin"
ROLE_NONE = "none"
ROLE_KEYS = (ROLE_CLERK, ROLE_SUPERVISOR, ROLE_AUDITOR, ROLE_ADMIN, ROLE_NONE)
ROLE_TITLES = {
    ROLE_CLERK: CLERK,
    ROLE_SUPERVISOR: SUPERVISOR,
    ROLE_AUDITOR: AUDITOR,
    ROLE_ADMIN: "システム管理者",
    ROLE_NONE: "役割なし",
}
# The roles that enter the admin at all (admin_site_has_permission); the others are sent to its
# login page by every admin URL, whatever the row of the matrix says.
ADMIN_ENTRANTS = frozenset({ROLE_CLERK, ROLE_SUPERVISOR, ROLE_ADMIN})

_NOBODY: frozenset[str] = frozenset()
_ADMIN = frozenset({ROLE_ADMIN})
_MANAGERS = frozenset({ROLE_SUPERVISOR, ROLE_ADMIN})
_OPERATORS = frozenset({ROLE_CLERK, ROLE_SUPERVISOR, ROLE_ADMIN})
_AUDITORS = frozenset({ROLE_AUDITOR})
_EVERYONE = frozenset(ROLE_KEYS)

# The pages of one registered model, by the suffix of their admin URL names.
MODEL_PAGES = ("changelist", "add", "change", "delete", "history")


@dataclass(frozen=True)
class Rule:
    """One row of the matrix: a page, a POST view or an admin action, and the roles that may use it.

    ``key`` is the URL name (``admin:kiosk_api_terminal_changelist``, ``audit:search``), an app's
    index (``admin:app_list:sync``) or an action (``action:kiosk_api.terminal:suspend_selected``).
    ``permission`` names the Django permission that gates it, when one does: the roles holding that
    permission must then be exactly ``roles`` (a test checks it). ``edit`` (change pages only) is
    who may save the form; the others who may open it see it read-only. ``allowed_status`` and
    ``denied_status`` are what a GET answers; ``method`` says how the walk calls it.
    """

    key: str
    what: str
    roles: frozenset[str]
    permission: str = ""
    edit: frozenset[str] | None = None
    note: str = ""
    method: str = "GET"
    allowed_status: int = 200
    denied_status: int = 403
    area: str = ""
    # Public (no login needed): the walk checks only that nobody is refused (no 302 to a login page,
    # no 401 or 403); what it answers depends on data (404 before the first checkpoint, say).
    public: bool = False
    # Closed before any login check: 403 for everyone, signed in or not (a back door to resident
    # data, answered the same way whoever asks).
    closed: bool = False


@dataclass
class _Matrix:
    rules: dict[str, Rule] = field(default_factory=dict)
    current_area: str = ""

    def area(self, title: str) -> None:
        """The heading the following rules appear under in docs/roles.md."""
        self.current_area = title

    def add(self, rule: Rule) -> None:
        if rule.key in self.rules:
            raise ValueError(f"two rules for {rule.key}")
        self.rules[rule.key] = replace(rule, area=self.current_area)

    def model(
        self,
        label: str,
        title: str,
        *,
        view: frozenset[str],
        add: frozenset[str] = _NOBODY,
        edit: frozenset[str] = _NOBODY,
        delete: frozenset[str] = _NOBODY,
        history: frozenset[str] | None = None,
        note: str = "",
        history_note: str = "",
    ) -> None:
        """The five pages of a registered model, and the 「削除」 action every model is offered."""
        app_label, model_name = label.split(".")
        name = f"admin:{app_label}_{model_name}"
        # Django's own permissions gate these pages unless the ModelAdmin overrides them.
        perm = f"{app_label}.%s_{model_name}"
        self.add(Rule(f"{name}_changelist", f"{title}: list", view, perm % "view", note=note))
        self.add(Rule(f"{name}_add", f"{title}: add", add, perm % "add" if add else ""))
        self.add(Rule(f"{name}_change", f"{title}: detail page", view, edit=edit))
        self.add(Rule(f"{name}_delete", f"{title}: delete", delete))
        self.add(
            Rule(
                f"{name}_history",
                f"{title}: change history",
                view if history is None else history,
                note=history_note,
                closed=history is not None and not history,
            )
        )
        self.add(Rule(f"action:{label}:delete_selected", f"{title}: delete the selected (action)", delete))


_RESIDENT_HISTORY = (
    "switched off for everyone: the history page titles each row by the resident's name and is not "
    "audited (SPEC §6)"
)


def _matrix() -> dict[str, Rule]:
    m = _Matrix()
    m.area("The admin site")
    m.add(
        Rule(
            "admin:index",
            "admin: menu",
            _OPERATORS,
            note="auditors and staff in no role are sent to the login page",
        )
    )
    m.add(
        Rule(
            "admin:login",
            "admin: sign in",
            _EVERYONE,
            note="public; a signed-in staff member who may enter the admin is sent on to the menu",
        )
    )
    m.add(
        Rule(
            "admin:logout",
            "admin: sign out (also the audit views' 「ログアウト」)",
            _EVERYONE,
            method="POST",
            note="open to every signed-in user, outside the admin's door check (saga_konbini/urls.py)",
        )
    )
    m.add(
        Rule(
            "admin:password_change",
            "admin: change one's own password",
            _OPERATORS,
            note="behind the admin's door: an auditor's password is set by the system administrator",
        )
    )
    m.add(Rule("admin:password_change_done", "admin: password changed", _OPERATORS))
    m.add(Rule("admin:jsi18n", "admin: the screens' JavaScript translations", _OPERATORS))
    m.add(
        Rule(
            "admin:autocomplete",
            "admin: autocomplete search",
            _NOBODY,
            closed=True,
            note=(
                "switched off: no admin uses autocomplete_fields, and it would search residents "
                "by name unaudited"
            ),
        )
    )
    m.add(
        Rule(
            "admin:view_on_site",
            "admin: 「サイトで表示」 redirect",
            _OPERATORS,
            note="no model has a public page: 404 for everyone who enters the admin",
            allowed_status=404,
        )
    )

    m.area("Accounts and login lockouts (the system administrator only)")
    # Every change of an account or a role is audited (staff/admin.py, staff/services.py).
    m.model(
        "auth.group",
        "groups (roles)",
        view=_ADMIN,
        add=_ADMIN,
        edit=_ADMIN,
        delete=_ADMIN,
        note="audited (staff.role_created, staff.role_permissions_changed, staff.role_deleted)",
    )
    m.model(
        "auth.user",
        "staff accounts",
        view=_ADMIN,
        add=_ADMIN,
        edit=_ADMIN,
        delete=_ADMIN,
        note="audited (staff.created, staff.changed, staff.deleted)",
    )
    m.add(
        Rule(
            "admin:auth_user_password_change",
            "staff accounts: set a password",
            _ADMIN,
            note="audited (staff.changed, credentials_set; never the password or its hash)",
        )
    )
    # The second factor (staff/admin.py): a reset makes the account enrol again at its next sign-in.
    m.add(
        Rule(
            "admin:staff_user_otp_reset",
            "staff accounts: reset the second factor (button on the account's page)",
            _ADMIN,
            note="audited (staff.otp_reset); the service checks again that the actor is a superuser",
        )
    )
    m.add(
        Rule("action:auth.user:otp_reset_action", "staff accounts: reset the second factor (action)", _ADMIN)
    )
    m.add(
        Rule(
            "action:auth.user:lockout_reset_action",
            "staff accounts: lift a login lockout (action)",
            _ADMIN,
            note="audited (staff.lockout_reset)",
        )
    )
    # Login lockouts (django-axes): deleting an attempt unlocks the account.
    m.model(
        "axes.accessattempt", "failed logins (lockouts)", view=_ADMIN, delete=_ADMIN, note="delete = unlock"
    )
    # Who signed in, and who failed to: records, read-only like the audit log (saga_konbini/axes_admin.py).
    m.model("axes.accesslog", "logins", view=_ADMIN)
    m.model("axes.accessfailurelog", "failed login log", view=_ADMIN)

    m.area("The mirror (read by clerks, audited; written by the core-system feed alone)")
    for label, title in (
        ("residents.household", "mirror: households"),
        ("residents.resident", "mirror: residents"),
        ("residents.sealregistration", "mirror: seal registrations"),
        ("residents.taxassessment", "mirror: tax assessments"),
        ("residents.taxpayment", "mirror: tax payments"),
        ("residents.cardlink", "mirror: card links"),
    ):
        m.model(
            label,
            title,
            view=_OPERATORS,
            history=_NOBODY,
            history_note=_RESIDENT_HISTORY,
            note="every view is audited (admin.resident_list / admin.resident_view)",
        )

    m.area("The core-system feed (read-only but for 「今すぐ連携」)")
    m.model("sync.batch", "sync: batches (dashboard)", view=_OPERATORS)
    m.add(
        Rule(
            "admin:sync_batch_run_now",
            "sync: 「今すぐ連携」 (apply pending batches now)",
            _MANAGERS,
            permission="sync.run_sync",
            method="POST",
            allowed_status=302,
        )
    )
    m.model(
        "sync.quarantinedrecord",
        "sync: quarantined records",
        view=_OPERATORS,
        history=_NOBODY,
        history_note=_RESIDENT_HISTORY,
    )
    m.model(
        "sync.residentblock",
        "sync: resident blocks",
        view=_OPERATORS,
        history=_NOBODY,
        history_note=_RESIDENT_HISTORY,
    )
    m.model("sync.syncalert", "sync: alerts", view=_OPERATORS)
    m.model("sync.synccursor", "sync: cursor", view=_OPERATORS)

    m.area("Issuance records, reports, stops and fees")
    m.model(
        "certificates.issuancerecord",
        "issuance records",
        view=_OPERATORS,
        history=_NOBODY,
        history_note=_RESIDENT_HISTORY,
        note="never edited through a form; views are audited",
    )
    m.add(
        Rule(
            "action:certificates.issuancerecord:void_selected",
            "issuance records: void with a reason (action)",
            _MANAGERS,
            permission=VOID_PERMISSION,
        )
    )
    m.add(
        Rule(
            "admin:certificates_issuance_reports",
            "issuance records: counts and fees report",
            _OPERATORS,
            permission=REPORTS_PERMISSION,
        )
    )
    m.add(
        Rule(
            "admin:certificates_issuance_settlement",
            "issuance records: the chains' settlement CSV",
            _OPERATORS,
            permission=REPORTS_PERMISSION,
        )
    )
    m.model(
        "certificates.issuancestop",
        "issuance stops (交付停止)",
        view=_OPERATORS,
        add=_MANAGERS,
        history=_NOBODY,
        history_note=_RESIDENT_HISTORY,
        note="lifted by the action, never deleted; the detail page has no editable field",
    )
    m.add(
        Rule(
            "action:certificates.issuancestop:lift_selected",
            "issuance stops: lift (action)",
            _MANAGERS,
            permission="certificates.change_issuancestop",
        )
    )
    m.model(
        "certificates.fee",
        "fees",
        view=_OPERATORS,
        add=_MANAGERS,
        edit=_MANAGERS,
        delete=_ADMIN,
        note=(
            "only a fee starting in the future may be corrected (one in force or superseded is "
            "read-only: add a newer row); only the system administrator deletes one; every change audited"
        ),
    )

    m.area("Kiosk terminals, the service calendar, alerts and revocation lists")
    m.model(
        "kiosk_api.terminal",
        "kiosk terminals",
        view=_OPERATORS,
        add=_MANAGERS,
        edit=_MANAGERS,
        note="revoked, never deleted; a correction of name, chain or store code is audited",
    )
    for action, title in (
        ("suspend_selected", "suspend"),
        ("reactivate_selected", "reactivate"),
        ("rotate_selected", "issue a new token"),
        ("revoke_selected", "revoke for good"),
    ):
        m.add(
            Rule(
                f"action:kiosk_api.terminal:{action}",
                f"kiosk terminals: {title} (action)",
                _MANAGERS,
                permission="kiosk_api.change_terminal",
            )
        )
    m.model(
        "kiosk_api.maintenancewindow",
        "service calendar (maintenance windows)",
        view=_OPERATORS,
        add=_MANAGERS,
        edit=_MANAGERS,
        delete=_MANAGERS,
    )
    m.model(
        "kiosk_api.kioskalert", "kiosk alerts", view=_OPERATORS, note="cleared by the system, not by hand"
    )
    m.model("kiosk_api.crlsnapshot", "card revocation lists", view=_OPERATORS)

    m.area("The menu of each app (Django answers 404 to whoever may see none of its models)")
    for app_label, roles in (
        ("auth", _ADMIN),
        ("axes", _ADMIN),
        ("residents", _OPERATORS),
        ("sync", _OPERATORS),
        ("certificates", _OPERATORS),
        ("kiosk_api", _OPERATORS),
    ):
        m.add(Rule(f"admin:app_list:{app_label}", f"admin: the {app_label} menu", roles, denied_status=404))

    m.area("The auditors' views (`/audit/`)")
    # Auditors only, not even the system administrator (separation of duties:
    # whoever runs the system does not also read its access log; put an administrator in 監査 if needed).
    m.add(Rule("audit:search", "audit: search the log", _AUDITORS, note="each search is audited"))
    m.add(Rule("audit:event_detail", "audit: one event", _AUDITORS, note="audited"))
    m.add(Rule("audit:export", "audit: CSV export", _AUDITORS, note="audited"))
    m.add(Rule("audit:chain", "audit: the hash chain and checkpoints", _AUDITORS))
    m.add(
        Rule(
            "audit:chain_verify",
            "audit: 「今すぐ検証する」 (queue a verification of the whole chain)",
            _AUDITORS,
            method="POST",
            allowed_status=303,
        )
    )
    m.add(Rule("audit:statistics", "audit: issuance statistics", _AUDITORS))
    m.area("Public transparency endpoints (SPEC §6: for witnesses outside the city, no login)")
    m.add(
        Rule(
            "audit:transparency_checkpoint",
            "audit: the newest signed checkpoint (JSON)",
            _EVERYONE,
            public=True,
            note="public, no personal data",
        )
    )
    m.add(
        Rule(
            "audit:transparency_consistency",
            "audit: RFC 6962 consistency proof (JSON)",
            _EVERYONE,
            public=True,
            note="public, no personal data",
        )
    )
    return m.rules


# A new admin page, admin action, get_urls view or /audit/ view fails the walk test until it has a
# rule here: add it to _matrix(), run `manage.py roles_matrix` for docs/roles.md, and give the walk
# test (tests/saga_konbini/test_permission_matrix.py) an object of a new model in OBJECT_FACTORIES
# and, for a new action, a recipe in ACTION_RECIPES.
MATRIX: dict[str, Rule] = _matrix()


def role_may(*, role: str, key: str) -> bool:
    """Whether the matrix lets ``role`` use the page, view or action ``key`` (KeyError: no rule)."""
    return role in MATRIX[key].roles


def roles_with_permission(permission: str) -> frozenset[str]:
    """The matrix roles whose group (or superuser status) grants ``permission``."""
    holders = {ROLE_ADMIN}
    for key, name in ((ROLE_CLERK, CLERK), (ROLE_SUPERVISOR, SUPERVISOR), (ROLE_AUDITOR, AUDITOR)):
        if permission in ROLE_PERMISSIONS[name]:
            holders.add(key)
    return frozenset(holders)


def matrix_markdown() -> str:
    """docs/roles.md: the matrix as tables, one per area."""
    header = "| what | " + " | ".join(f"{ROLE_TITLES[r]} ({r})" for r in ROLE_KEYS) + " | note |"
    rule_line = "| --- |" + " :-: |" * len(ROLE_KEYS) + " --- |"
    lines = [
        "# Who may see and do what (the permission matrix)",
        "",
        "Generated from `staff/roles.py` (`MATRIX`) by `manage.py roles_matrix`; do not edit by",
        "hand. `tests/saga_konbini/test_permission_matrix.py` fails when this file is stale, when a",
        "page, action or view answers differently from the table for any role, and when an admin page,",
        "admin action or `/audit/` view has no row.",
        "",
        "✓ may; — may not (403, or the action is not offered and a forged POST changes nothing);",
        "「閲覧」 the detail page opens read-only. Auditors and staff in no role never enter the admin:",
        "every admin URL sends them to its login page. Services re-check the actor's permission",
        "(`actor_permission_require`), so a view's bug is not enough to act beyond the role; a refused",
        "attempt is audited with the outcome 「拒否」.",
        "",
        "Roles: 窓口職員 (clerk) reads; 係長 (supervisor) also voids, sets and lifts stops, manages",
        "terminals, fees and the service calendar and runs the sync; 監査 (auditor) reads the audit log",
        "at `/audit/` only; システム管理者 (admin) is a superuser and alone manages accounts; 役割なし",
        "(none) is a staff account whose role is not set yet.",
        "",
    ]
    areas: dict[str, list[Rule]] = {}
    for rule in MATRIX.values():
        areas.setdefault(rule.area, []).append(rule)
    for title, rules in areas.items():
        lines += [f"## {title}", "", header, rule_line]
        for rule in rules:
            cells = []
            for role in ROLE_KEYS:
                if role not in rule.roles:
                    cells.append("—")
                elif rule.edit is not None and role not in rule.edit:
                    cells.append("閲覧")
                else:
                    cells.append("✓")
            extra = [f"`{rule.permission}`"] if rule.permission else []
            if rule.method != "GET":
                extra.append(rule.method)
            if rule.note:
                extra.append(rule.note)
            lines.append(f"| {rule.what} `{rule.key}` | " + " | ".join(cells) + f" | {'; '.join(extra)} |")
        lines.append("")
    return "\n".join(lines)


# --- The services' own check -------------------------------------------------------------------


def actor_permission_require(*, actor: Any, permission: str, action: str, terminals: bool = False) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may act with ``permission``.

    A staff actor (kind clerk or auditor) is loaded by id and must be active and hold the
    permission; a job or the system (periodic tasks, commands an operator runs on the server) may;
    a kiosk terminal may only where ``terminals`` says so (it voids its own failed prints); nobody
    else may. A refusal is audited as ``action`` with the outcome refused, in a transaction of its
    own when the caller has none open (so that it survives the refusal), then raised. Call it
    before the service changes anything.
    """
    kinds = AuditEvent.ActorKind
    if actor.kind in (kinds.JOB, kinds.SYSTEM):
        return
    if actor.kind == kinds.TERMINAL and terminals:
        return
    if actor.kind in (kinds.CLERK, kinds.AUDITOR) and str(actor.id).isdigit():
        user = get_user_model().objects.filter(pk=int(actor.id)).first()
        # An inactive user has no permission at all (ModelBackend), whatever the groups say.
        if user is not None and user.has_perm(permission):
            return
    audit_record(
        actor=actor,
        action=action,
        outcome=AuditEvent.Outcome.REFUSED,
        reason="permission_denied",
        payload={"permission": permission},
    )
    raise PermissionDenied(f"{action}: the actor lacks {permission}")
