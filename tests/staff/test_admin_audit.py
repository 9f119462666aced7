"""Changes of staff accounts and roles in the admin are audit events: who changed whose roles,
flags or password, who added or deleted an account or a role, from which address, under which
request id. Never the password or its hash."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from staff import roles
from tests.staff.conftest import code_now, device_of, make_user, sign_in

pytestmark = pytest.mark.django_db

ADDRESS = "198.51.100.30"
NEW_PASSWORD = "a-new-staff-password-7"
STAFF_ACTIONS = (
    "staff.changed",
    "staff.created",
    "staff.deleted",
    "staff.role_permissions_changed",
    "staff.role_created",
    "staff.role_deleted",
)


@pytest.fixture
def kanri(otp_required) -> tuple[Any, Client]:
    user = make_user("kanri", None)
    client = Client(REMOTE_ADDR=ADDRESS)
    assert sign_in(client, "kanri", code=code_now(device_of(user))).status_code == 302
    return user, client


def _events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__in=STAFF_ACTIONS).order_by("pk"))


def _one_event(action: str, kanri_user: Any, request_id: str) -> AuditEvent:
    events = _events()
    assert [e.action for e in events] == [action]
    event = events[0]
    assert (event.actor_id, event.actor_label) == (str(kanri_user.pk), "kanri")
    assert event.source == ADDRESS and event.request_id == request_id
    return event


def _user_form(user: Any, **changes: Any) -> dict[str, Any]:
    """The change form of ``user`` as the admin shows it, with ``changes`` made."""
    user.refresh_from_db()
    joined = timezone.localtime(user.date_joined)
    values: dict[str, Any] = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": [g.pk for g in user.groups.all()],
        "user_permissions": [p.pk for p in user.user_permissions.all()],
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        # The admin's date fields carry their initial value in hidden inputs, compared on save.
        "initial-date_joined_0": joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    values.update(changes)
    return {k: ("on" if v is True else v) for k, v in values.items() if v is not False}


def _clerk(username: str = "madoguchi") -> Any:
    user = make_user(username, roles.CLERK)
    # The form shows the time to the second: a stored fraction would read as a change.
    get_user_model().objects.filter(pk=user.pk).update(date_joined=timezone.now().replace(microsecond=0))
    return user


def test_making_a_clerk_a_superuser_and_a_supervisor_is_one_event(kanri):
    kanri_user, client = kanri
    clerk = _clerk()
    supervisor_group = roles.roles_ensure()[roles.SUPERVISOR]
    data = _user_form(clerk, is_superuser=True, groups=[supervisor_group.pk], email="m@example.jp")
    response = client.post(
        reverse("admin:auth_user_change", args=[clerk.pk]), data, HTTP_X_REQUEST_ID="req-change-1"
    )
    assert response.status_code == 302
    clerk.refresh_from_db()
    assert clerk.is_superuser
    event = _one_event("staff.changed", kanri_user, "req-change-1")
    assert event.payload == {
        "user_id": clerk.pk,
        "groups_added": [roles.SUPERVISOR],
        "groups_removed": [roles.CLERK],
        "changed": {"is_superuser": [False, True]},
        "other_fields": ["email"],
    }


def test_flags_and_own_permissions_are_recorded_and_an_unchanged_save_records_nothing(kanri):
    kanri_user, client = kanri
    clerk = _clerk()
    url = reverse("admin:auth_user_change", args=[clerk.pk])
    assert client.post(url, _user_form(clerk)).status_code == 302
    assert _events() == []

    permission = Permission.objects.get(content_type__app_label="auth", codename="change_user")
    data = _user_form(clerk, is_active=False, is_staff=False, user_permissions=[permission.pk])
    assert client.post(url, data, HTTP_X_REQUEST_ID="req-flags").status_code == 302
    event = _one_event("staff.changed", kanri_user, "req-flags")
    assert event.payload == {
        "user_id": clerk.pk,
        "permissions_added": ["auth.change_user"],
        "changed": {"is_staff": [True, False], "is_active": [True, False]},
    }


def test_setting_a_password_is_recorded_without_it(kanri):
    kanri_user, client = kanri
    clerk = _clerk()
    url = reverse("admin:auth_user_password_change", args=[clerk.pk])
    refused = client.post(url, {"password1": NEW_PASSWORD, "password2": "does-not-match-1"})
    assert refused.status_code == 200 and _events() == []

    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    assert client.post(url, data, HTTP_X_REQUEST_ID="req-password").status_code == 302
    clerk.refresh_from_db()
    assert clerk.check_password(NEW_PASSWORD)
    event = _one_event("staff.changed", kanri_user, "req-password")
    assert event.payload == {"user_id": clerk.pk, "credentials_set": True}
    assert NEW_PASSWORD not in str(vars(event)) and clerk.password not in str(vars(event))


def test_adding_an_account_is_recorded(kanri):
    kanri_user, client = kanri
    data = {
        "username": "shinnin",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "usable_password": "true",
    }
    response = client.post(reverse("admin:auth_user_add"), data, HTTP_X_REQUEST_ID="req-add")
    assert response.status_code == 302
    created = get_user_model().objects.get(username="shinnin")
    event = _one_event("staff.created", kanri_user, "req-add")
    assert event.payload == {
        "user_id": created.pk,
        "username": "shinnin",
        "groups": [],
        "permissions": [],
        "is_superuser": False,
        "is_staff": False,
        "is_active": True,
    }
    assert NEW_PASSWORD not in str(vars(event)) and created.password not in str(vars(event))


def test_deleting_accounts_is_recorded_one_by_one(kanri):
    kanri_user, client = kanri
    clerk, other, third = _clerk(), _clerk("hojo"), _clerk("sanban")
    response = client.post(
        reverse("admin:auth_user_delete", args=[clerk.pk]), {"post": "yes"}, HTTP_X_REQUEST_ID="req-del"
    )
    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=clerk.pk).exists()
    event = _one_event("staff.deleted", kanri_user, "req-del")
    assert event.payload == {
        "user_id": clerk.pk,
        "username": "madoguchi",
        "groups": [roles.CLERK],
        "is_superuser": False,
    }

    before = {e.pk for e in _events()}
    client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "delete_selected", "_selected_action": [other.pk, third.pk], "post": "yes"},
    )
    assert not get_user_model().objects.filter(pk__in=[other.pk, third.pk]).exists()
    bulk = [e for e in _events() if e.pk not in before]
    assert sorted((e.action, e.payload["user_id"], e.source) for e in bulk) == [
        ("staff.deleted", other.pk, ADDRESS),
        ("staff.deleted", third.pk, ADDRESS),
    ]


def test_a_role_s_permissions_changed_are_recorded_as_dotted_names(kanri):
    kanri_user, client = kanri
    group = Group.objects.create(name="臨時")
    keep = Permission.objects.get(content_type__app_label="auth", codename="view_user")
    drop = Permission.objects.get(content_type__app_label="auth", codename="view_group")
    add = Permission.objects.get(content_type__app_label="auth", codename="change_user")
    group.permissions.set([keep, drop])
    url = reverse("admin:auth_group_change", args=[group.pk])
    assert client.post(url, {"name": "臨時", "permissions": [keep.pk, drop.pk]}).status_code == 302
    assert _events() == []

    data = {"name": "臨時", "permissions": [keep.pk, add.pk]}
    assert client.post(url, data, HTTP_X_REQUEST_ID="req-role").status_code == 302
    event = _one_event("staff.role_permissions_changed", kanri_user, "req-role")
    assert event.payload == {
        "group_id": group.pk,
        "group": "臨時",
        "permissions_added": ["auth.change_user"],
        "permissions_removed": ["auth.view_group"],
    }


def test_adding_and_deleting_a_role_are_recorded(kanri):
    kanri_user, client = kanri
    permission = Permission.objects.get(content_type__app_label="auth", codename="view_user")
    data = {"name": "臨時", "permissions": [permission.pk]}
    assert (
        client.post(reverse("admin:auth_group_add"), data, HTTP_X_REQUEST_ID="req-role-add").status_code
        == 302
    )
    group = Group.objects.get(name="臨時")
    event = _one_event("staff.role_created", kanri_user, "req-role-add")
    assert event.payload == {"group_id": group.pk, "group": "臨時", "permissions": ["auth.view_user"]}

    _clerk().groups.add(group)
    response = client.post(
        reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"}, HTTP_X_REQUEST_ID="req-role-del"
    )
    assert response.status_code == 302 and not Group.objects.filter(pk=group.pk).exists()
    deleted = _events()[-1]
    assert [e.action for e in _events()] == ["staff.role_created", "staff.role_deleted"]
    assert (deleted.source, deleted.request_id, deleted.actor_id) == (
        ADDRESS,
        "req-role-del",
        str(kanri_user.pk),
    )
    assert deleted.payload == {
        "group_id": group.pk,
        "group": "臨時",
        "permissions": ["auth.view_user"],
        "members": 1,
    }


def test_the_event_is_in_the_transaction_of_the_change(kanri, monkeypatch):
    """No change without its event: when recording fails, the change is undone with it."""
    _kanri_user, client = kanri
    clerk = _clerk()

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("the audit log refused the event")

    monkeypatch.setattr("staff.services.audit_record", refuse)
    with pytest.raises(RuntimeError):
        client.post(reverse("admin:auth_user_change", args=[clerk.pk]), _user_form(clerk, is_superuser=True))
    with pytest.raises(RuntimeError):
        client.post(reverse("admin:auth_user_delete", args=[clerk.pk]), {"post": "yes"})
    clerk.refresh_from_db()
    assert not clerk.is_superuser
