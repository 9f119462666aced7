"""Kiosk terminals: registration, corrections, token rotation, suspension and revocation (係長)."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from kiosk_api.auth import token_hash
from kiosk_api.models import Terminal
from staff.roles import actor_permission_require

TOKEN_PREFIX_LENGTH = 12


TERMINAL_CHANGE_PERMISSION = "kiosk_api.change_terminal"


def _new_token() -> str:
    # 256 bits from the OS; the "skt_" prefix makes a leaked token easy to recognise in a scan.
    return f"skt_{secrets.token_urlsafe(32)}"


def _terminal_fields_clean(*, name: str, chain: str, store_code: str) -> tuple[str, str]:
    """The name and store code stripped; ValidationError naming each field that is missing or wrong."""
    name, store_code = name.strip(), store_code.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "端末名を入力してください。"
    if chain not in Terminal.Chain.values:
        errors["chain"] = "チェーンの指定が正しくありません。"
    if not store_code:
        errors["store_code"] = "店舗コードを入力してください。"
    if errors:
        raise ValidationError(errors)
    return name, store_code


def terminal_register(
    *, name: str, chain: str, store_code: str, actor: Actor, source: str = "", request_id: str = ""
) -> tuple[Terminal, str]:
    """Register a kiosk terminal. Returns the terminal and its token, which is shown once only.

    ``source`` and ``request_id``: the clerk's client address and request id, when a clerk acts.
    Raises ``PermissionDenied`` (audited as refused) unless the actor may add terminals (係長)."""
    actor_permission_require(actor=actor, permission="kiosk_api.add_terminal", action="terminal.registered")
    name, store_code = _terminal_fields_clean(name=name, chain=chain, store_code=store_code)
    token = _new_token()
    with transaction.atomic():
        terminal = Terminal.objects.create(
            name=name,
            chain=chain,
            store_code=store_code,
            token_hash=token_hash(token),
            token_prefix=token[:TOKEN_PREFIX_LENGTH],
        )
        audit_record(
            actor=actor,
            action="terminal.registered",
            payload={"terminal": terminal.pk, "chain": chain, "store_code": store_code, "name": name},
            source=source,
            request_id=request_id,
        )
    return terminal, token


def terminal_update(
    *,
    terminal_id: int,
    name: str,
    chain: str,
    store_code: str,
    actor: Actor,
    source: str = "",
    request_id: str = "",
) -> Terminal:
    """Correct a terminal's name, chain or store code (係長); the change is audited with the old and
    new values (they name a store, never a person). Its status and token change only through the
    services above.

    ``source`` and ``request_id``: the clerk's client address and request id, when a clerk acts."""
    actor_permission_require(actor=actor, permission=TERMINAL_CHANGE_PERMISSION, action="terminal.updated")
    name, store_code = _terminal_fields_clean(name=name, chain=chain, store_code=store_code)
    with transaction.atomic():
        terminal = _terminal_locked(terminal_id)
        wanted = {"name": name, "chain": chain, "store_code": store_code}
        changed = {f: [getattr(terminal, f), v] for f, v in wanted.items() if getattr(terminal, f) != v}
        if changed:
            for field_name, (_old, new) in changed.items():
                setattr(terminal, field_name, new)
            terminal.save(update_fields=list(changed))
            audit_record(
                actor=actor,
                action="terminal.updated",
                payload={"terminal": terminal.pk, "changed": changed},
                source=source,
                request_id=request_id,
            )
    return terminal


def _terminal_locked(terminal_id: int) -> Terminal:
    return Terminal.objects.select_for_update().get(pk=terminal_id)


def terminal_rotate_token(
    *, terminal_id: int, actor: Actor, source: str = "", request_id: str = ""
) -> tuple[Terminal, str]:
    """Replace a terminal's token; the old one stops working at once. A revoked terminal stays revoked."""
    actor_permission_require(
        actor=actor, permission=TERMINAL_CHANGE_PERMISSION, action="terminal.token_rotated"
    )
    token = _new_token()
    with transaction.atomic():
        terminal = _terminal_locked(terminal_id)
        if terminal.status == Terminal.Status.REVOKED:
            raise ValidationError("廃止された端末のトークンは更新できません。")
        terminal.token_hash = token_hash(token)
        terminal.token_prefix = token[:TOKEN_PREFIX_LENGTH]
        terminal.rotated_at = timezone.now()
        terminal.save(update_fields=["token_hash", "token_prefix", "rotated_at"])
        audit_record(
            actor=actor,
            action="terminal.token_rotated",
            payload={"terminal": terminal.pk},
            source=source,
            request_id=request_id,
        )
    return terminal, token


def _terminal_set_status(
    *, terminal_id: int, actor: Actor, status: str, action: str, allowed: set[str]
) -> Terminal:
    # Suspending, reactivating and revoking are 係長's (kiosk_api.change_terminal): one clerk must
    # not be able to take the city's kiosks offline, even through a view that forgot to check.
    actor_permission_require(actor=actor, permission=TERMINAL_CHANGE_PERMISSION, action=action)
    with transaction.atomic():
        terminal = _terminal_locked(terminal_id)
        if terminal.status not in allowed:
            raise ValidationError(
                f"この端末は「{terminal.get_status_display()}」のため、この操作はできません。"
            )
        previous = terminal.status
        terminal.status = status
        terminal.save(update_fields=["status"])
        audit_record(
            actor=actor, action=action, payload={"terminal": terminal.pk, "from": previous, "to": status}
        )
    return terminal


def terminal_suspend(*, terminal_id: int, actor: Actor) -> Terminal:
    return _terminal_set_status(
        terminal_id=terminal_id,
        actor=actor,
        status=Terminal.Status.SUSPENDED,
        action="terminal.suspended",
        allowed={Terminal.Status.ACTIVE},
    )


def terminal_reactivate(*, terminal_id: int, actor: Actor) -> Terminal:
    return _terminal_set_status(
        terminal_id=terminal_id,
        actor=actor,
        status=Terminal.Status.ACTIVE,
        action="terminal.reactivated",
        allowed={Terminal.Status.SUSPENDED},
    )


def terminal_revoke(*, terminal_id: int, actor: Actor) -> Terminal:
    """Revoke for good: the token becomes unknown (401), sessions of the terminal die with it."""
    return _terminal_set_status(
        terminal_id=terminal_id,
        actor=actor,
        status=Terminal.Status.REVOKED,
        action="terminal.revoked",
        allowed={Terminal.Status.ACTIVE, Terminal.Status.SUSPENDED},
    )
