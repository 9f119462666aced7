"""The permission matrix (staff/roles.py) against the running admin and /audit/.

Signed in as each role (窓口職員, 係長, 監査, システム管理者, and a staff account in no role), the tests
walk every registered model's pages for a real object, POST every admin action on a real object and
check whether the database changed, call every custom admin view and every audit view, and compare
each answer with the matrix. A registered model, admin URL, admin action or audit view that the
matrix does not mention fails, and so does a row of the matrix that names nothing.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent, AuditVerificationRun
from audit.services import Actor, audit_record
from certificates.models import IssuanceRecord
from kiosk_api.models import CrlSnapshot, KioskAlert, MaintenanceWindow, Terminal
from oversight import urls as audit_urls
from staff import roles
from staff.roles import MATRIX, MODEL_PAGES, ROLE_KEYS, Rule
from sync.models import Batch, QuarantinedRecord, ResidentBlock, SyncAlert, SyncCursor
from tests.certificates.factories import (
    CardLinkFactory,
    FeeFactory,
    HouseholdFactory,
    IssuanceStopFactory,
    ResidentFactory,
    SealRegistrationFactory,
    TaxAssessmentFactory,
    TaxPaymentFactory,
)
from tests.certificates.records import kiosk_record, terminal_for

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # The production hasher is slow on purpose; these tests are about permissions, not hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- One real object per registered model ------------------------------------------------------


def _now() -> Any:
    return timezone.now()


def _batch() -> Batch:
    number = Batch.objects.count() + 1
    return Batch.objects.create(
        number=number, kind="delta", status="applied", received_at=_now(), finished_at=_now()
    )


def _quarantined() -> QuarantinedRecord:
    return QuarantinedRecord.objects.create(
        batch=_batch(),
        line_number=3,
        entity="resident",
        key="R000000777",
        reason_code="invalid",
        reason="生年月日",
    )


def _axes_fields() -> dict[str, Any]:
    return {
        "user_agent": "test",
        "ip_address": "192.0.2.10",
        "username": f"someone-{uuid.uuid4().hex[:6]}",
        "http_accept": "*/*",
        "path_info": LOGIN,
    }


def _user() -> Any:
    return get_user_model().objects.create_user(f"other-{uuid.uuid4().hex[:8]}", password="x" * 12)


def _synccursor() -> SyncCursor:
    cursor, _ = SyncCursor.objects.get_or_create(pk=1, defaults={"next_batch_number": 1})
    return cursor


# A registered model without an entry here fails test_every_registered_model_has_an_object_factory.
OBJECT_FACTORIES: dict[str, Callable[[], Model]] = {
    "auth.group": lambda: Group.objects.create(name=f"group-{uuid.uuid4().hex[:8]}"),
    "auth.user": _user,
    "axes.accessattempt": lambda: AccessAttempt.objects.create(
        **_axes_fields(), get_data="", post_data="", failures_since_start=1
    ),
    "axes.accesslog": lambda: AccessLog.objects.create(**_axes_fields(), session_hash=""),
    "axes.accessfailurelog": lambda: AccessFailureLog.objects.create(**_axes_fields(), locked_out=False),
    "residents.household": HouseholdFactory.create,
    "residents.resident": ResidentFactory.create,
    "residents.sealregistration": SealRegistrationFactory.create,
    "residents.taxassessment": TaxAssessmentFactory.create,
    "residents.taxpayment": TaxPaymentFactory.create,
    "residents.cardlink": CardLinkFactory.create,
    "sync.batch": _batch,
    "sync.quarantinedrecord": _quarantined,
    "sync.residentblock": lambda: ResidentBlock.objects.create(
        resident_code="R000000777", quarantined_record=_quarantined()
    ),
    "sync.syncalert": lambda: SyncAlert.objects.create(
        kind="gap", batch_number=9, message="欠番", raised_at=_now(), last_seen_at=_now()
    ),
    "sync.synccursor": _synccursor,
    "certificates.issuancerecord": lambda: kiosk_record(terminal=terminal_for("lawson"), at=_now()),
    "certificates.issuancestop": IssuanceStopFactory.create,
    "certificates.fee": lambda: FeeFactory.create(cert_type="inkan", effective_from=date(2031, 4, 1)),
    "kiosk_api.terminal": lambda: terminal_for("familymart"),
    "kiosk_api.maintenancewindow": lambda: MaintenanceWindow.objects.create(
        starts_at=_now() + timedelta(days=7), ends_at=_now() + timedelta(days=7, hours=2), reason="保守"
    ),
    "kiosk_api.kioskalert": lambda: KioskAlert.objects.create(
        kind="crl_stale", message="更新切れ", raised_at=_now(), last_seen_at=_now()
    ),
    "kiosk_api.crlsnapshot": lambda: CrlSnapshot.objects.create(
        issuer="CN=test", this_update=_now(), next_update=_now() + timedelta(days=1), loaded_at=_now()
    ),
}


def _suspended_terminal() -> Terminal:
    terminal = terminal_for("ministop")
    Terminal.objects.filter(pk=terminal.pk).update(status="suspended")
    return terminal


def _enrolled_user() -> Model:
    user = _user()
    TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    return user


def _devices_of(user: Model) -> int:
    return TOTPDevice.objects.filter(user_id=user.pk).count()


def _locked_out_user() -> Model:
    user = _user()
    AccessAttempt.objects.create(
        **{**_axes_fields(), "username": user.get_username()},
        get_data="",
        post_data="",
        failures_since_start=9,
    )
    return user


def _lockouts_of(user: Model) -> int:
    return AccessAttempt.objects.filter(username=getattr(user, "username", "")).count()


@dataclass(frozen=True)
class ActionRecipe:
    """How to try an action: the object it acts on, and what else its POST carries to be done."""

    make: Callable[[], Model]
    data: dict[str, str] = field(default_factory=dict)
    # What the action changes, read before and after (default: the object's own row).
    observe: Callable[[Model], Any] | None = None
    # What a done action answers: back to the list, or a page of its own (the new tokens).
    done_status: int = 302


# Every custom action needs a recipe (test_every_action_has_a_recipe); 「削除」 has a generic one.
ACTION_RECIPES: dict[str, ActionRecipe] = {
    "action:kiosk_api.terminal:suspend_selected": ActionRecipe(lambda: terminal_for("lawson")),
    "action:kiosk_api.terminal:reactivate_selected": ActionRecipe(_suspended_terminal),
    "action:kiosk_api.terminal:rotate_selected": ActionRecipe(
        lambda: terminal_for("lawson"), done_status=200
    ),
    "action:kiosk_api.terminal:revoke_selected": ActionRecipe(lambda: terminal_for("lawson")),
    "action:certificates.issuancerecord:void_selected": ActionRecipe(
        OBJECT_FACTORIES["certificates.issuancerecord"], {"confirm": "yes", "reason": "二重交付"}
    ),
    "action:certificates.issuancestop:lift_selected": ActionRecipe(IssuanceStopFactory.create),
    "action:auth.user:otp_reset_action": ActionRecipe(_enrolled_user, observe=_devices_of),
    "action:auth.user:lockout_reset_action": ActionRecipe(_locked_out_user, observe=_lockouts_of),
}


def _recipe(key: str) -> ActionRecipe:
    if key.endswith(":delete_selected"):
        label = key.split(":")[1]
        return ActionRecipe(OBJECT_FACTORIES[label], {"post": "yes"})
    return ACTION_RECIPES[key]


# --- Personas ----------------------------------------------------------------------------------


def _persona(role: str) -> Any:
    groups = roles.roles_ensure()
    user = get_user_model().objects.create_user(
        f"persona-{role}", password="x" * 12, is_staff=True, is_superuser=role == roles.ROLE_ADMIN
    )
    group = {
        roles.ROLE_CLERK: roles.CLERK,
        roles.ROLE_SUPERVISOR: roles.SUPERVISOR,
        roles.ROLE_AUDITOR: roles.AUDITOR,
    }
    if role in group:
        user.groups.set([groups[group[role]]])
    return user


def _client(role: str) -> Client:
    client = Client()
    client.force_login(_persona(role))
    return client


# --- What the site has ------------------------------------------------------------------------


def _admin_url_names() -> tuple[set[str], list[str]]:
    """The named admin URLs (as matrix keys) and the unnamed patterns, walking includes."""
    names: set[str] = set()
    unnamed: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                if pattern.name == "app_list":
                    continue  # one pattern for every app: the matrix has a row per app instead
                if pattern.name:
                    names.add(f"admin:{pattern.name}")
                else:
                    unnamed.append(prefix + str(pattern.pattern))

    walk(admin.site.get_urls(), "")
    app_labels = {model._meta.app_label for model in admin.site._registry}
    names.update(f"admin:app_list:{label}" for label in app_labels)
    return names, unnamed


def _action_keys() -> set[str]:
    keys = set()
    for model, model_admin in admin.site._registry.items():
        for _func, name, _description in model_admin._get_base_actions():  # type: ignore[attr-defined]
            keys.add(f"action:{model._meta.label_lower}:{name}")
    return keys


def _audit_keys() -> set[str]:
    return {f"audit:{pattern.name}" for pattern in audit_urls.urlpatterns}


def _site_keys() -> set[str]:
    return _admin_url_names()[0] | _action_keys() | _audit_keys()


# Unnamed admin patterns that are not pages: a model's bare object URL redirects to its change
# page, and the catch-all answers the login page or 404.
UNNAMED_ALLOWED = {"<path:object_id>/", "(?P<url>.*)$"}


def test_every_admin_url_action_and_audit_view_has_a_rule():
    site = _site_keys()
    assert sorted(site - set(MATRIX)) == [], "pages, actions or views without a rule in roles.MATRIX"


def test_every_rule_names_something_that_exists():
    assert sorted(set(MATRIX) - _site_keys()) == [], "rules in roles.MATRIX for nothing on the site"


def test_admin_urls_are_named_so_that_the_matrix_can_name_them():
    _names, unnamed = _admin_url_names()
    assert [
        p for p in unnamed if p.rsplit("/", 2)[-2:] != ["<path:object_id>", ""] and p not in UNNAMED_ALLOWED
    ] == []


def test_every_registered_model_has_its_five_pages_in_the_matrix_and_an_object_factory():
    for model in admin.site._registry:
        label = model._meta.label_lower
        assert label in OBJECT_FACTORIES, f"add a factory for {label} to OBJECT_FACTORIES"
        for page in MODEL_PAGES:
            assert f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}" in MATRIX


def test_every_action_has_a_recipe():
    for key in _action_keys():
        assert _recipe(key) is not None


def test_rules_that_name_a_permission_grant_it_to_exactly_their_roles():
    for key, rule in MATRIX.items():
        if rule.permission:
            assert roles.roles_with_permission(rule.permission) == rule.roles - {roles.ROLE_NONE}, key


def test_docs_roles_md_is_rendered_from_the_matrix():
    # Fails while docs/roles.md is stale: run `manage.py roles_matrix`.
    call_command("roles_matrix", check=True, stdout=io.StringIO())


def test_every_custom_admin_action_declares_its_permissions():
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in {"axes"}:
            continue  # a third party's, and only the system administrator sees its models
        for func, name, _description in model_admin._get_base_actions():  # type: ignore[attr-defined]
            if name == "delete_selected":
                continue  # Django's own, gated by the delete permission
            assert getattr(func, "allowed_permissions", ()), f"{model._meta.label}: {name}"


# --- The walk ----------------------------------------------------------------------------------


def _expected(rule: Rule, role: str) -> int:
    if rule.closed:
        return 403
    if rule.key.startswith("admin:") and role not in roles.ADMIN_ENTRANTS:
        return 302  # the admin site sends auditors and staff in no role to its login page
    return rule.allowed_status if role in rule.roles else rule.denied_status


def _get_url(key: str, objects: dict[str, Model], event: AuditEvent) -> tuple[str, dict[str, str]] | None:
    """The URL (and query) a GET of ``key`` asks for, or None for rules walked by POST."""
    rule = MATRIX[key]
    if rule.method != "GET" or key.startswith("action:"):
        return None
    if key.startswith("audit:"):
        name = key
        if key == "audit:event_detail":
            return reverse(name, args=[event.pk]), {}
        return reverse(name), {}
    if key.startswith("admin:app_list:"):
        return reverse("admin:app_list", kwargs={"app_label": key.rsplit(":", 1)[1]}), {}
    if key == "admin:view_on_site":
        terminal = objects["kiosk_api.terminal"]
        return reverse(key, args=[ContentType.objects.get_for_model(Terminal).pk, terminal.pk]), {}
    if key in ("admin:auth_user_password_change", "admin:staff_user_otp_reset"):
        return reverse(key, args=[objects["auth.user"].pk]), {}
    if key == "admin:certificates_issuance_settlement":
        return reverse(key), {"month": "2026-11"}
    if key == "admin:autocomplete":
        # A well-formed query (Django would search households by address for a clerk).
        query = {"app_label": "residents", "model_name": "resident", "field_name": "household"}
        return reverse(key), {**query, "term": "佐賀"}
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if key.startswith(prefix) and key[len(prefix) :] in MODEL_PAGES:
            page = key[len(prefix) :]
            if page in ("changelist", "add"):
                return reverse(key), {}
            return reverse(key, args=[objects[model._meta.label_lower].pk]), {}
    return reverse(key), {}


def _object_of(key: str, objects: dict[str, Model]) -> Model:
    """The object whose change page ``key`` names."""
    for model in admin.site._registry:
        if key == f"admin:{model._meta.app_label}_{model._meta.model_name}_change":
            return objects[model._meta.label_lower]
    raise KeyError(key)


def _editable(response: Any) -> bool:
    """Whether a change page offers a form to save: change permission and a field not read-only."""
    context = response.context
    form = context.get("adminform") if context else None
    return bool(context and context.get("has_change_permission") and form is not None and form.form.fields)


@pytest.mark.parametrize("role", ROLE_KEYS)
def test_every_page_answers_as_the_matrix_says(role):
    objects = {label: make() for label, make in OBJECT_FACTORIES.items()}
    event = audit_record(actor=Actor.job("test"), action="kiosk.session_started", payload={})
    client = _client(role)
    differences = []
    for key, rule in MATRIX.items():
        target = _get_url(key, objects, event)
        if target is None:
            continue
        url, query = target
        response = client.get(url, query)
        wanted = _expected(rule, role)
        if key == "admin:login":
            # Public: a signed-in staff member who may enter the admin is sent on to the menu.
            wanted = 302 if role in roles.ADMIN_ENTRANTS else 200
        if rule.public:
            if response.status_code in (302, 401, 403):
                differences.append(f"{key}: {response.status_code}, but it is public")
            continue
        if response.status_code != wanted:
            differences.append(f"{key}: {response.status_code}, the matrix says {wanted}")
            continue
        if wanted == 302 and key != "admin:login" and not response["Location"].startswith(LOGIN):
            differences.append(f"{key}: redirected to {response['Location']}, not to the login page")
        if rule.edit is not None and response.status_code == 200:
            may_edit = role in rule.edit
            if _editable(response) != may_edit:
                differences.append(f"{key}: editable={_editable(response)}, the matrix says {may_edit}")
            if not may_edit:
                # A forged save of a read-only detail page: refused (403), or taken as a save of no
                # field at all where every field is read-only (302); the row stays as it was.
                obj = _object_of(key, objects)
                before = _row(obj)
                forged = client.post(url, {"_save": "1"})
                if forged.status_code not in (302, 403) or _row(obj) != before:
                    differences.append(f"{key}: a forged save answered {forged.status_code}")
    assert differences == []


def _row(obj: Model) -> dict[str, Any] | None:
    return type(obj)._default_manager.filter(pk=obj.pk).values().first()


ACTION_KEYS = sorted(k for k in MATRIX if k.startswith("action:"))


@pytest.mark.parametrize("role", ROLE_KEYS)
@pytest.mark.parametrize("key", ACTION_KEYS)
def test_every_action_does_what_the_matrix_says_and_nothing_when_refused(role, key):
    client = _client(role)  # first: signing in lets axes clean up login rows
    recipe = _recipe(key)
    target = recipe.make()
    observe = recipe.observe or _row
    before = observe(target)
    _, label, action = key.split(":")
    app_label, model_name = label.split(".")
    changelist = reverse(f"admin:{app_label}_{model_name}_changelist")
    response = client.post(
        changelist, {"action": action, "_selected_action": [str(target.pk)], **recipe.data}
    )
    after = observe(target)
    if role in MATRIX[key].roles:
        assert response.status_code == recipe.done_status, response.status_code
        assert after != before, "the action changed nothing"
        return
    assert after == before, "a refused action changed the database"
    if role not in roles.ADMIN_ENTRANTS:
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)
        return
    # Not offered to this user: forbidden (staff/roles.py, admin_actions_offered_only).
    assert response.status_code == 403, response.status_code
    levels = {m.level for m in get_messages(response.wsgi_request)}
    assert messages.SUCCESS not in levels


@pytest.mark.parametrize("role", ROLE_KEYS)
def test_run_now_answers_as_the_matrix_says(role, settings):
    rule = MATRIX["admin:sync_batch_run_now"]
    response = _client(role).post(reverse("admin:sync_batch_run_now"))
    assert response.status_code == _expected(rule, role)
    refused = AuditEvent.objects.filter(action="sync.run", outcome=AuditEvent.Outcome.REFUSED)
    if role in rule.roles:
        assert response["Location"] == reverse("admin:sync_batch_changelist")
        levels = {m.level for m in get_messages(response.wsgi_request)}
        assert messages.SUCCESS in levels
    elif role in roles.ADMIN_ENTRANTS:
        assert not any(m.level == messages.SUCCESS for m in get_messages(response.wsgi_request))
    assert not refused.exists()  # the view refuses before the service is asked


@pytest.mark.parametrize("role", ROLE_KEYS)
def test_verify_now_answers_as_the_matrix_says(role, monkeypatch):
    from audit import tasks

    monkeypatch.setattr(tasks.audit_verify_task, "delay", lambda *args, **kwargs: None)
    rule = MATRIX["audit:chain_verify"]
    response = _client(role).post(reverse("audit:chain_verify"))
    assert response.status_code == _expected(rule, role)
    assert AuditVerificationRun.objects.exists() == (role in rule.roles)


@pytest.mark.parametrize("role", ROLE_KEYS)
def test_everyone_may_sign_out(role):
    client = _client(role)
    response = client.post(reverse("admin:logout"))
    assert response.status_code == MATRIX["admin:logout"].allowed_status
    assert "_auth_user_id" not in client.session


def test_a_forged_void_by_a_clerk_changes_nothing():
    # The reviewer's finding, the other way round: the records' void action is gated too.
    record = kiosk_record(terminal=terminal_for("lawson"), at=_now())
    _client(roles.ROLE_CLERK).post(
        reverse("admin:certificates_issuancerecord_changelist"),
        {"action": "void_selected", "_selected_action": [record.pk], "confirm": "yes", "reason": "偽造"},
    )
    assert IssuanceRecord.objects.get(pk=record.pk).status == "printed"


def test_an_outsider_is_sent_to_the_login_page_everywhere_but_the_public_pages():
    objects = {label: make() for label, make in OBJECT_FACTORIES.items()}
    event = audit_record(actor=Actor.job("test"), action="kiosk.session_started", payload={})
    client = Client()
    differences = []
    for key, rule in MATRIX.items():
        target = _get_url(key, objects, event)
        if target is None or key == "admin:login":
            continue
        response = client.get(*target)
        if rule.closed:
            if response.status_code != 403:
                differences.append(f"{key}: {response.status_code}, but it is closed to everyone")
            continue
        refused = response.status_code == 302 and response["Location"].startswith(LOGIN)
        if refused == rule.public:
            differences.append(f"{key}: {response.status_code}")
    assert differences == []


def test_a_fee_in_force_opens_read_only_and_a_forged_save_changes_nothing():
    fee = FeeFactory.create(cert_type="nozei", amount_yen=300, effective_from=date(2020, 4, 1))
    client = _client(roles.ROLE_SUPERVISOR)
    url = reverse("admin:certificates_fee_change", args=[fee.pk])
    page = client.get(url)
    assert page.status_code == 200 and not _editable(page)
    forged = client.post(url, {"cert_type": "nozei", "amount_yen": "30", "effective_from": "2020-04-01"})
    assert forged.status_code == 403
    fee.refresh_from_db()
    assert fee.amount_yen == 300
