"""Reads about staff accounts: their second factor (SPEC §9), roles and permissions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_otp import devices_for_user


def staff_otp_required() -> bool:
    """Whether every staff sign-in needs a TOTP code (``STAFF_OTP_REQUIRED``)."""
    return bool(settings.STAFF_OTP_REQUIRED)


def staff_has_confirmed_device(*, user: Any) -> bool:
    return any(True for _device in devices_for_user(user, confirmed=True))


def staff_user_named(*, username: str) -> Any | None:
    """The staff account with this user name, or None (inactive and non-staff accounts too)."""
    return get_user_model().objects.filter(username=username, is_staff=True).first()


@dataclass(frozen=True)
class StaffState:
    """What decides what a staff account may do: its roles, its own permissions and its flags."""

    username: str
    groups: frozenset[str]
    permissions: frozenset[str]  # directly granted, as "app_label.codename"
    is_superuser: bool
    is_staff: bool
    is_active: bool


def permission_names(permissions: Any) -> frozenset[str]:
    """Permissions (a queryset) as dotted names, "app_label.codename"."""
    return frozenset(
        f"{app_label}.{codename}"
        for app_label, codename in permissions.values_list("content_type__app_label", "codename")
    )


def staff_state_of(*, user_id: Any) -> StaffState:
    """The account as stored now (read again from the database, not from a form's instance)."""
    user = get_user_model().objects.get(pk=user_id)
    return StaffState(
        username=user.get_username(),
        groups=frozenset(user.groups.values_list("name", flat=True)),
        permissions=permission_names(user.user_permissions.all()),
        is_superuser=user.is_superuser,
        is_staff=user.is_staff,
        is_active=user.is_active,
    )


@dataclass(frozen=True)
class RoleState:
    name: str
    permissions: frozenset[str]


def role_state_of(*, group_id: Any) -> RoleState:
    group = Group.objects.get(pk=group_id)
    return RoleState(name=group.name, permissions=permission_names(group.permissions.all()))
