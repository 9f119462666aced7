"""Staff accounts and their second factor (SPEC §7 ``create_staff``, §9 the staff sign-in).

A TOTP device (RFC 6238, six digits, 30 s; django-otp's ``TOTPDevice``) is the second factor. Its
secret leaves the server exactly twice: printed once by ``create_staff``, or shown once on the
enrolment page to the person enrolling. It never reaches a log, an exception or an audit payload.
"""

from __future__ import annotations

import base64
import secrets
import string
from dataclasses import dataclass
from typing import Any

from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Field
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from saga_konbini import roles

# create_staff's --role, to the role group (saga_konbini/roles.py); "admin" is a superuser, no group.
ROLE_GROUPS: dict[str, str | None] = {
    "clerk": roles.CLERK,
    "supervisor": roles.SUPERVISOR,
    "auditor": roles.AUDITOR,
    "admin": None,
}
DEVICE_NAME = "TOTP"
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


def staff_otp_enrolment_device(*, user: Any) -> TOTPDevice:
    """The unconfirmed device a user enrols with: the same one until confirmed, so that reloading
    the enrolment page does not invalidate the QR code already scanned."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
        )
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def staff_otp_enrol_confirm(
    *, user: Any, device: TOTPDevice, token: str, source: str = "", request_id: str = ""
) -> bool:
    """Confirm ``device`` with the first code it shows; False when the code is wrong.

    Only for a user without a confirmed device: replacing a second factor is a system
    administrator's reset (``staff_otp_reset``), never something a password alone can do.
    Audited as ``staff.otp_enrolled``.
    """
    if not (len(token) == 6 and token.isascii() and token.isdigit()):
        return False
    with transaction.atomic():
        locked = (
            TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=user, confirmed=False).first()
        )
        if locked is None or any(True for _d in devices_for_user(user, confirmed=True)):
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


def staff_login_record(*, user: Any | None, succeeded: bool, source: str, request_id: str) -> None:
    """A staff sign-in, or a refused one, as an audit event (SPEC §6: who and from where).

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


def staff_otp_reset(*, actor_user: Any, target: Any, source: str = "", request_id: str = "") -> int:
    """Remove every second-factor device of ``target`` (a system administrator only): at the next
    sign-in they enrol again. Sessions verified with a removed device stop being verified.
    Audited as ``staff.otp_reset``. Returns the number of devices removed."""
    _require_superuser(actor_user)
    with transaction.atomic():
        removed = 0
        for device in list(devices_for_user(target, confirmed=None)):
            device.delete()
            removed += 1
        audit_record(
            actor=Actor.user(actor_user),
            action="staff.otp_reset",
            payload={"user_id": target.pk, "devices_removed": removed},
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
