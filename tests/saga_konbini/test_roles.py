"""Roles with least privilege: what each role may open and do, lockout, idle expiry.

Personas: 窓口職員 (clerk), 係長 (supervisor), 監査 (auditor), システム管理者 (admin), outsider.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from certificates.models import Fee, IssuanceRecord, IssuanceStop
from kiosk_api.models import MaintenanceWindow, Terminal
from staff import roles
from tests.certificates.records import kiosk_record, terminal_for

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-demo-password-1"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # The production hasher is slow on purpose; these tests are about permissions, not hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _user(username: str, role: str | None, *, superuser: bool = False) -> Any:
    groups = roles.roles_ensure()
    user = get_user_model().objects.create_user(
        username, password=PASSWORD, is_staff=True, is_superuser=superuser
    )
    if role:
        user.groups.set([groups[role]])
    return user


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clerk() -> Client:
    return _client_for(_user("madoguchi", roles.CLERK))


@pytest.fixture
def supervisor() -> Client:
    return _client_for(_user("kakaricho", roles.SUPERVISOR))


@pytest.fixture
def auditor() -> Client:
    return _client_for(_user("kansa", roles.AUDITOR))


@pytest.fixture
def sysadmin() -> Client:
    return _client_for(_user("sysadmin", None, superuser=True))


@pytest.fixture
def record() -> IssuanceRecord:
    return kiosk_record(terminal=terminal_for("lawson"), at=timezone.now() - timedelta(hours=1))


def _void(client: Client, record: IssuanceRecord) -> Any:
    return client.post(
        reverse("admin:certificates_issuancerecord_changelist"),
        {"action": "void_selected", "_selected_action": [record.pk], "confirm": "yes", "reason": "二重交付"},
    )


READ_PAGES = [
    "admin:index",
    "admin:residents_resident_changelist",
    "admin:residents_household_changelist",
    "admin:sync_batch_changelist",
    "admin:sync_quarantinedrecord_changelist",
    "admin:certificates_issuancerecord_changelist",
    "admin:certificates_issuancestop_changelist",
    "admin:certificates_fee_changelist",
    "admin:kiosk_api_terminal_changelist",
    "admin:kiosk_api_maintenancewindow_changelist",
    "admin:certificates_issuance_reports",
]
SUPERVISOR_ADD_PAGES = [
    "admin:certificates_issuancestop_add",
    "admin:certificates_fee_add",
    "admin:kiosk_api_terminal_add",
    "admin:kiosk_api_maintenancewindow_add",
]
NOBODY_ADDS = [
    "admin:residents_resident_add",
    "admin:certificates_issuancerecord_add",
    "admin:sync_batch_add",
]


def test_every_role_permission_exists_and_roles_ensure_is_idempotent():
    first = roles.roles_ensure()
    second = roles.roles_ensure()
    assert {name: g.pk for name, g in first.items()} == {name: g.pk for name, g in second.items()}
    for name, wanted in roles.ROLE_PERMISSIONS.items():
        granted = {
            f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=name).permissions.all()
        }
        assert granted == set(wanted)
    assert not Group.objects.get(name=roles.AUDITOR).permissions.exists()


def test_no_role_may_write_the_mirror_or_the_audit_log():
    for wanted in roles.ROLE_PERMISSIONS.values():
        writes = [p for p in wanted if p.split(".")[1].split("_")[0] in {"add", "change", "delete"}]
        assert not [p for p in writes if p.startswith(("residents.", "audit.", "sync."))]


@pytest.mark.parametrize("page", READ_PAGES)
def test_clerk_reads_every_operational_page(clerk, page):
    assert clerk.get(reverse(page)).status_code == 200


@pytest.mark.parametrize("page", SUPERVISOR_ADD_PAGES + NOBODY_ADDS)
def test_clerk_cannot_add_or_register_anything(clerk, page):
    assert clerk.get(reverse(page)).status_code == 403


def test_clerk_cannot_void_an_issuance(clerk, record):
    listing = clerk.get(reverse("admin:certificates_issuancerecord_changelist"))
    assert "void_selected" not in listing.content.decode()
    _void(clerk, record)
    record.refresh_from_db()
    assert record.status == "printed"


def test_clerk_cannot_lift_a_stop_nor_open_the_audit_views(clerk):
    stop = IssuanceStop.objects.create(resident_code="R000000009", reason="申出", created_at=timezone.now())
    clerk.post(
        reverse("admin:certificates_issuancestop_changelist"),
        {"action": "lift_selected", "_selected_action": [stop.pk]},
    )
    stop.refresh_from_db()
    assert stop.lifted_at is None
    assert clerk.get(reverse("audit:search")).status_code == 403


@pytest.mark.parametrize("page", READ_PAGES + SUPERVISOR_ADD_PAGES)
def test_supervisor_opens_the_operational_and_management_pages(supervisor, page):
    assert supervisor.get(reverse(page)).status_code == 200


@pytest.mark.parametrize("page", NOBODY_ADDS)
def test_supervisor_cannot_write_the_mirror_or_records(supervisor, page):
    assert supervisor.get(reverse(page)).status_code == 403


def test_supervisor_voids_stops_and_manages_fees_terminals_and_calendar(supervisor, record):
    assert _void(supervisor, record).status_code == 302
    record.refresh_from_db()
    assert (record.status, record.void_reason) == ("voided", "二重交付")

    supervisor.post(
        reverse("admin:certificates_issuancestop_add"),
        {"resident_code": "R000000042", "reason": "本人からの申出", "until": "2027-03-31"},
    )
    assert IssuanceStop.objects.filter(resident_code="R000000042").exists()
    supervisor.post(
        reverse("admin:certificates_fee_add"),
        {"cert_type": "inkan", "amount_yen": "300", "effective_from": "2027-04-01"},
    )
    assert Fee.objects.filter(cert_type="inkan", amount_yen=300).exists()
    supervisor.post(
        reverse("admin:kiosk_api_terminal_add"), {"name": "3号機", "chain": "familymart", "store_code": "F-3"}
    )
    terminal = Terminal.objects.get(name="3号機")
    supervisor.post(
        reverse("admin:kiosk_api_terminal_changelist"),
        {"action": "suspend_selected", "_selected_action": [terminal.pk]},
    )
    terminal.refresh_from_db()
    assert terminal.status == "suspended"
    supervisor.post(
        reverse("admin:kiosk_api_maintenancewindow_add"),
        {
            "starts_at_0": "2026-12-29",
            "starts_at_1": "00:00:00",
            "ends_at_0": "2027-01-04",
            "ends_at_1": "00:00:00",
            "reason": "年末年始",
        },
    )
    assert MaintenanceWindow.objects.filter(reason="年末年始").exists()
    assert supervisor.get(reverse("audit:search")).status_code == 403


def test_auditor_cannot_enter_the_admin_but_opens_the_audit_views(auditor):
    # The admin site turns auditors away at the door: every admin page sends them to the login page.
    index = auditor.get(reverse("admin:index"))
    assert index.status_code == 302 and index.url.startswith(reverse("admin:login"))
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert auditor.get(url).status_code == 302, model
        assert model_admin.has_view_permission(index.wsgi_request) is False
    assert auditor.get(reverse("admin:certificates_issuance_reports")).status_code == 302
    assert auditor.get(reverse("audit:search")).status_code == 200


def test_system_administrator_may_do_what_the_supervisor_may(sysadmin, record):
    for page in READ_PAGES + SUPERVISOR_ADD_PAGES:
        assert sysadmin.get(reverse(page)).status_code == 200, page
    assert _void(sysadmin, record).status_code == 302
    record.refresh_from_db()
    assert record.status == "voided"


def test_outsider_is_sent_to_the_login_page():
    response = Client().get(reverse("admin:certificates_issuance_reports"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_repeated_failed_logins_lock_the_account(settings):
    _user("madoguchi", roles.CLERK)
    client = Client()
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(url, {"username": "madoguchi", "password": "wrong-password"})
        assert response.status_code == 200  # the form again, with its error
    # The last allowed failure locks the account: even the right password is refused afterwards.
    assert client.post(url, {"username": "madoguchi", "password": "wrong-password"}).status_code == 429
    locked = client.post(url, {"username": "madoguchi", "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_clerk_session_expires_after_thirty_idle_minutes(settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST
    _user("madoguchi", roles.CLERK)
    client = Client()
    now = timezone.now()
    with time_machine.travel(now, tick=False) as traveller:
        assert (
            client.post(reverse("admin:login"), {"username": "madoguchi", "password": PASSWORD}).status_code
            == 302
        )
        traveller.shift(timedelta(minutes=29))
        assert client.get(reverse("admin:index")).status_code == 200  # activity slides the expiry
        traveller.shift(timedelta(minutes=29))
        assert client.get(reverse("admin:index")).status_code == 200
        traveller.shift(timedelta(minutes=31))
        response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_demo_logins_make_one_account_per_role(settings):
    passwords = {name: f"{name}-demo-password-1" for name in ("admin", "clerk", "supervisor", "auditor")}
    call_command("demo_logins", passwords_json=json.dumps(passwords))
    call_command("demo_logins", passwords_json=json.dumps(passwords))  # idempotent
    users = {u.username: u for u in get_user_model().objects.prefetch_related("groups")}
    assert set(users) == set(passwords)
    assert users["admin"].is_superuser and not users["clerk"].is_superuser
    assert {u: [g.name for g in users[u].groups.all()] for u in ("clerk", "supervisor", "auditor")} == {
        "clerk": [roles.CLERK],
        "supervisor": [roles.SUPERVISOR],
        "auditor": [roles.AUDITOR],
    }
    # Staff so that they can sign in on the admin's login page, which /audit/ uses too.
    assert all(user.is_staff for user in users.values())
    assert not users["auditor"].get_all_permissions()
    assert users["supervisor"].has_perm(roles.VOID_PERMISSION) and not users["clerk"].has_perm(
        roles.VOID_PERMISSION
    )


def test_demo_logins_refuse_production_and_missing_passwords(settings):
    with pytest.raises(CommandError, match="passwords missing for: auditor"):
        call_command(
            "demo_logins", passwords_json=json.dumps({"admin": "a", "clerk": "b", "supervisor": "c"})
        )
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="not for production"):
        call_command("demo_logins", passwords_json="{}")
    assert not get_user_model().objects.exists()
