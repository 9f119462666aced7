"""Staff accounts and their second factor (SPEC §7 ``create_staff``, §9 the staff sign-in).

A TOTP device (RFC 6238, six digits, 30 s; django-otp's ``TOTPDevice``) is the second factor. Its
secret leaves the server exactly twice: printed once by ``create_staff``, or shown once on the
enrolment page to the person enrolling. It never reaches a log, an exception or an audit payload.
"""

from __future__ import annotations

import base64
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Field
from django.utils import timezone
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from staff import roles
from staff.selectors import RoleState, StaffState, role_state_of, staff_state_of

# create_staff's --role, to the role group (staff/roles.py); "admin" is a superuser, no group.
ROLE_GROUPS: dict[str, str | None] = {
    "clerk": roles.CLERK,
    "supervisor": roles.SUPERVISOR,
    "auditor": roles.AUDITOR,
    "admin": None,
}
DEVICE_NAME = "TOTP"
# How long a password sign-in of an account without a device may take to enrol (the enrolment
# page's session flag), and how old an unconfirmed device must be before another enrolment may
# remove it: after that its sign-in may no longer enrol with it anyway.
ENROLMENT_WINDOW = timedelta(minutes=10)
# Session engines that keep sessions in the database, where ``staff_otp_reset`` can find and end
# every session of one account; any other engine would leave them open (see staff/checks.py).
DATABASE_SESSION_ENGINES = (
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
)
_PASSWORD_ALPHABET = string.ascii_letters + string.digits
_PASSWORD_LENGTH = 20


class StaffExistsError(ValueError):
    """The user name is taken: create_staff never touches an existing account."""


@dataclass(frozen=True)
class StaffCreated:
    user: Any
    password: str
    totp_secret: str  # base32, as authenticator apps take it


def totp_secret_base32(device: TOTPDevice) -> str:
    """The device's secret as authenticator apps take it (RFC 4648 base32, no padding)."""
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")


def _password_generate(*, user: Any) -> str:
    # 20 characters of 62 (~119 bits) pass the validators all but never; checked anyway, so that
    # a stricter AUTH_PASSWORD_VALIDATORS later cannot make create_staff hand out a refused password.
    for _attempt in range(20):
        password = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(_PASSWORD_LENGTH))
        try:
            validate_password(password, user=user)
        except ValidationError:
            continue
        return password
    raise RuntimeError("no generated password met AUTH_PASSWORD_VALIDATORS")


def staff_create(*, username: str, role: str, actor: Actor) -> StaffCreated:
    """A staff account in ``role``'s group with a generated password and a confirmed TOTP device.

    Raises ``StaffExistsError`` when the user name is taken and ``ValueError`` for an unknown role.
    Audited as ``staff.created`` (user id, user name, role; never the password or the secret).
    """
    if role not in ROLE_GROUPS:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLE_GROUPS)}")
    user_model = get_user_model()
    # Django's own rule for user names (letters, digits and @.+-_); raises ValidationError.
    username_field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    assert isinstance(username_field, Field)
    username_field.run_validators(username)
    with transaction.atomic():
        if user_model.objects.filter(username=username).exists():
            raise StaffExistsError(username)
        groups = roles.roles_ensure()
        group_name = ROLE_GROUPS[role]
        user = user_model(username=username, is_staff=True, is_superuser=group_name is None)
        password = _password_generate(user=user)
        user.set_password(password)
        user.save()
        if group_name is not None:
            user.groups.set([groups[group_name]])
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
        audit_record(
            actor=actor,
            action="staff.created",
            payload={"user_id": user.pk, "username": username, "role": role},
        )
    return StaffCreated(user=user, password=password, totp_secret=totp_secret_base32(device))


def staff_otp_verify(*, user: Any, token: str) -> Any | None:
    """The user's confirmed device that accepts ``token`` now, or None.

    The devices are locked while checked: two sign-ins racing with one code cannot both pass, and
    a code once accepted is refused afterwards (the device keeps the last accepted time step,
    ``last_t``, and accepts only later ones).
    """
    if not (len(token) == 6 and token.isascii() and token.isdigit()):
        return None
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if device.verify_token(token):
                return device
    return None


def _user_locked(user: Any) -> Any:
    # The user's row is the one lock every change of their second factor takes (enrolment, its
    # confirmation, a reset): two requests of one account then run one after the other, even when
    # no device row exists yet to lock.
    return get_user_model().objects.select_for_update().get(pk=user.pk)


def staff_otp_enrolment_device(*, user: Any, device_id: int | None = None) -> TOTPDevice:
    """The unconfirmed device one enrolling session shows: ``device_id`` (kept in that session)
    while it is still this user's and unconfirmed, so that reloading the page does not invalidate
    the QR code already scanned; otherwise a new one. Each session gets its own secret: another
    session of the same account never sees it.

    Unconfirmed devices older than the enrolment window are removed on the way (their sessions
    may no longer enrol), so repeated sign-ins do not pile them up."""
    with transaction.atomic():
        _user_locked(user)
        stale = timezone.now() - ENROLMENT_WINDOW
        TOTPDevice.objects.filter(user=user, confirmed=False, created_at__lt=stale).exclude(
            pk=device_id
        ).delete()
        device = None
        if device_id is not None:
            device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def staff_otp_enrol_confirm(
    *, user: Any, device: TOTPDevice, token: str, source: str = "", request_id: str = ""
) -> bool:
    """Confirm ``device`` with the first code it shows; False when the code is wrong.

    Only for a user without a confirmed device: replacing a second factor is a system
    administrator's reset (``staff_otp_reset``), never something a password alone can do. The
    user's row is locked first, so of two sessions confirming at once the second waits, then
    finds the first one's confirmed device and is refused. Audited as ``staff.otp_enrolled``.
    """
    if not (len(token) == 6 and token.isascii() and token.isdigit()):
        return False
    with transaction.atomic():
        _user_locked(user)
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            return False
        locked = (
            TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=user, confirmed=False).first()
        )
        if locked is None:
            return False
        if not locked.verify_token(token):
            return False
        locked.confirmed = True
        locked.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).exclude(pk=locked.pk).delete()
        audit_record(
            actor=_actor(user),
            action="staff.otp_enrolled",
            payload={"user_id": user.pk, "device_id": locked.pk},
            source=source,
            request_id=request_id,
        )
    device.refresh_from_db()
    return True


def staff_login_record(
    *, user: Any | None, succeeded: bool, source: str, request_id: str, second_factor: bool = False
) -> None:
    """A staff sign-in, or a refused one, as an audit event (SPEC §6: who and from where).

    ``second_factor``: a TOTP code was verified at this sign-in. A success without it is a
    password-only sign-in (it may only enrol while codes are required), and the log must tell it
    apart from a full one.

    A refusal names the account only when its user name exists: what was typed into the field is
    never recorded (a password typed there by mistake must not reach the log). The reason of a
    refusal is not told apart either: the page does not tell, and django-axes counts it.
    """
    actor = _actor(user) if user is not None else Actor.public()
    audit_record(
        actor=actor,
        action="staff.login",
        outcome=AuditEvent.Outcome.SUCCESS if succeeded else AuditEvent.Outcome.FAILURE,
        reason="" if succeeded else "invalid_login",
        payload={"second_factor": bool(second_factor)} if succeeded else None,
        source=source,
        request_id=request_id,
    )


def _actor(user: Any) -> Actor:
    auditor = user.groups.filter(name=roles.AUDITOR).exists() and not user.is_superuser
    return Actor.user(user, kind=AuditEvent.ActorKind.AUDITOR if auditor else AuditEvent.ActorKind.CLERK)


def _require_superuser(actor_user: Any) -> None:
    # The admin offers these only to superusers; checked again here, so that no other door
    # (another view, a shell script) can skip the rule.
    if not (actor_user.is_active and actor_user.is_superuser):
        raise PermissionDenied("only a system administrator may do this")


def _sessions_end(*, user: Any) -> int:
    """End every open session of ``user``; returns how many.

    Sessions are stored signed and encoded, not by user, so each live one is decoded: fine for the
    number of sessions a staff server holds. Deleted through the session engine, so that a cached
    copy (``cached_db``) goes too. A request of that session still running cannot bring it back:
    saving a deleted session fails (Django answers ``SessionInterrupted``).
    """
    if settings.SESSION_ENGINE not in DATABASE_SESSION_ENGINES:
        raise ImproperlyConfigured("staff sessions must be kept in the database to be ended")
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    user_id = str(user.pk)
    ended = 0
    live = Session.objects.filter(expire_date__gt=timezone.now())
    for session in live.iterator():
        if str(session.get_decoded().get(SESSION_KEY, "")) == user_id:
            store_class(session_key=session.session_key).delete()
            ended += 1
    return ended


def staff_otp_reset(*, actor_user: Any, target: Any, source: str = "", request_id: str = "") -> int:
    """Remove every second-factor device of ``target`` (a system administrator only) and end all of
    their sessions: at the next sign-in, with the password, they enrol again.

    The sessions must end, not merely stop being verified: a session left signed in without a
    device is exactly what may enrol, so an old session (a shared counter PC, a stolen cookie)
    could otherwise enrol its own authenticator without ever typing the password.
    Audited as ``staff.otp_reset``. Returns the number of devices removed."""
    _require_superuser(actor_user)
    with transaction.atomic():
        _user_locked(target)
        removed = 0
        for device in list(devices_for_user(target, confirmed=None)):
            device.delete()
            removed += 1
        sessions_ended = _sessions_end(user=target)
        audit_record(
            actor=Actor.user(actor_user),
            action="staff.otp_reset",
            payload={"user_id": target.pk, "devices_removed": removed, "sessions_ended": sessions_ended},
            source=source,
            request_id=request_id,
        )
    return removed


def staff_lockout_reset(*, actor_user: Any, target: Any, source: str = "", request_id: str = "") -> int:
    """Lift django-axes' lockout of ``target``'s user name (a system administrator only).
    Audited as ``staff.lockout_reset``. Returns the number of failure records removed."""
    _require_superuser(actor_user)
    with transaction.atomic():
        removed = int(axes_reset(username=target.get_username()) or 0)
        audit_record(
            actor=Actor.user(actor_user),
            action="staff.lockout_reset",
            payload={"user_id": target.pk, "attempts_removed": removed},
            source=source,
            request_id=request_id,
        )
    return removed


# --- Staff accounts and roles changed in the admin ------------------------------------------------
#
# Who may do what is decided by these rows (roles, a user's own permissions, the superuser flag), so
# every change to them is an audit event by the acting administrator, recorded in the transaction of
# the change. Payloads name what changed, never a password or its hash: the audit guard refuses any
# key containing "password", hence "credentials_set" for a password set on the account.


def _added_removed(before: frozenset[str], after: frozenset[str], what: str) -> dict[str, list[str]]:
    payload: dict[str, list[str]] = {}
    if after - before:
        payload[f"{what}_added"] = sorted(after - before)
    if before - after:
        payload[f"{what}_removed"] = sorted(before - after)
    return payload


def staff_changed_record(
    *,
    actor_user: Any,
    user_id: Any,
    before: StaffState,
    after: StaffState,
    other_fields: Iterable[str] = (),
    credentials_set: bool = False,
    source: str = "",
    request_id: str = "",
) -> bool:
    """Record ``staff.changed`` for one account: the roles (groups) and own permissions added and
    removed by name, the flags and user name as [old, new], the names of other fields changed, and
    ``credentials_set`` when a password was set (``credentials_usable``: false when password sign-in
    was turned off instead). Nothing is recorded when nothing changed; returns whether it was."""
    payload: dict[str, Any] = {"user_id": user_id}
    payload.update(_added_removed(before.groups, after.groups, "groups"))
    payload.update(_added_removed(before.permissions, after.permissions, "permissions"))
    changed = {
        name: [getattr(before, name), getattr(after, name)]
        for name in ("username", "is_superuser", "is_staff", "is_active")
        if getattr(before, name) != getattr(after, name)
    }
    if changed:
        payload["changed"] = changed
    if other_fields:
        payload["other_fields"] = sorted(other_fields)
    if credentials_set:
        payload["credentials_set"] = True
        user = get_user_model().objects.get(pk=user_id)
        if not user.has_usable_password():
            payload["credentials_usable"] = False
    if len(payload) == 1:
        return False
    audit_record(
        actor=Actor.user(actor_user),
        action="staff.changed",
        payload=payload,
        source=source,
        request_id=request_id,
    )
    return True


def staff_created_record(
    *, actor_user: Any, user_id: Any, state: StaffState, source: str = "", request_id: str = ""
) -> None:
    """Record ``staff.created`` for an account added in the admin (``staff_create`` records its own)."""
    audit_record(
        actor=Actor.user(actor_user),
        action="staff.created",
        payload={
            "user_id": user_id,
            "username": state.username,
            "groups": sorted(state.groups),
            "permissions": sorted(state.permissions),
            "is_superuser": state.is_superuser,
            "is_staff": state.is_staff,
            "is_active": state.is_active,
        },
        source=source,
        request_id=request_id,
    )


def staff_delete(*, actor_user: Any, target: Any, source: str = "", request_id: str = "") -> None:
    """Delete a staff account (its devices go with it), audited as ``staff.deleted`` with what it
    could do until then."""
    with transaction.atomic():
        state = staff_state_of(user_id=target.pk)
        audit_record(
            actor=Actor.user(actor_user),
            action="staff.deleted",
            payload={
                "user_id": target.pk,
                "username": state.username,
                "groups": sorted(state.groups),
                "is_superuser": state.is_superuser,
            },
            source=source,
            request_id=request_id,
        )
        target.delete()


def role_changed_record(
    *,
    actor_user: Any,
    group_id: Any,
    before: RoleState,
    after: RoleState,
    source: str = "",
    request_id: str = "",
) -> bool:
    """Record ``staff.role_permissions_changed`` for a role (group): the permissions added and
    removed as "app_label.codename", and a new name as [old, new]. Nothing when nothing changed."""
    payload: dict[str, Any] = {"group_id": group_id, "group": after.name}
    payload.update(_added_removed(before.permissions, after.permissions, "permissions"))
    if before.name != after.name:
        payload["changed"] = {"name": [before.name, after.name]}
    if len(payload) == 2:
        return False
    audit_record(
        actor=Actor.user(actor_user),
        action="staff.role_permissions_changed",
        payload=payload,
        source=source,
        request_id=request_id,
    )
    return True


def role_created_record(
    *, actor_user: Any, group_id: Any, state: RoleState, source: str = "", request_id: str = ""
) -> None:
    audit_record(
        actor=Actor.user(actor_user),
        action="staff.role_created",
        payload={"group_id": group_id, "group": state.name, "permissions": sorted(state.permissions)},
        source=source,
        request_id=request_id,
    )


def role_delete(*, actor_user: Any, group: Any, source: str = "", request_id: str = "") -> None:
    """Delete a role (group): its members lose what it granted. Audited as ``staff.role_deleted``
    with its permissions and how many accounts held it."""
    with transaction.atomic():
        state = role_state_of(group_id=group.pk)
        audit_record(
            actor=Actor.user(actor_user),
            action="staff.role_deleted",
            payload={
                "group_id": group.pk,
                "group": state.name,
                "permissions": sorted(state.permissions),
                "members": group.user_set.count(),
            },
            source=source,
            request_id=request_id,
        )
        group.delete()
