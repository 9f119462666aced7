"""The kiosk API's services (SPEC §3): terminals, sessions, card authentication, issuance.

Every step carries its own data from start to end in database rows (in 2023 a request that
overwrote another's printed one resident's certificate for another): nothing is
kept in process memory between requests, so any number of app processes can serve one kiosk. Every
outcome is audited with its true reason, in the same transaction as the act it records; refusals
are recorded first and raised afterwards, so the record survives the refusal.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from audit.models import AuditEvent
from audit.selectors import access_history_for_resident
from audit.services import Actor, audit_record
from certificates.eligibility import Offer, offers_for_holder
from certificates.errors import CertificateRefused
from certificates.services import (
    IssueRequest,
    certificate_issue,
    issuance_mark_printed,
    issuance_void,
)
from kiosk_api import door, pki
from kiosk_api.auth import token_hash
from kiosk_api.crl import crl_card_revoked
from kiosk_api.document_store import document_decrypt, document_encrypt
from kiosk_api.errors import KioskError
from kiosk_api.models import KioskIssuance, KioskSession, MaintenanceWindow, StoredDocument, Terminal
from residents.models import CardLink, Resident
from saga_konbini.fixed_sql import ModelRows
from saga_konbini.roles import actor_permission_require

CHALLENGE_BYTES = 32
CHALLENGE_LIFETIME = timedelta(seconds=60)  # SPEC §3
SESSION_IDLE_LIFETIME = timedelta(seconds=180)  # SPEC §3, sliding
TOKEN_PREFIX_LENGTH = 12
TERMINAL_CHANGE_PERMISSION = "kiosk_api.change_terminal"
_REFUSED = AuditEvent.Outcome.REFUSED
_SESSIONS = ModelRows(KioskSession)
_ISSUANCES = ModelRows(KioskIssuance)
_CARD_LINKS = ModelRows(CardLink)
_RESIDENTS = ModelRows(Resident)
_LONG_DIGITS = re.compile(r"\d{12,}")


@dataclass(frozen=True)
class CallContext:
    """Who calls and from where, passed explicitly through every service (no "current" anything)."""

    terminal: Terminal
    now: datetime
    source: str = ""
    request_id: str = ""
    # The periodic sweep acts on a terminal's sessions as itself, not as the terminal.
    acting: Actor | None = None

    @property
    def actor(self) -> Actor:
        return self.acting or Actor.terminal(self.terminal)


def _session_ref(session: KioskSession | str) -> str:
    """The session id for audit payloads. The audit log refuses any run of exactly 12 digits (a My
    Number look-alike), and a UUID's last group can be one: it is written split in two."""
    text = session if isinstance(session, str) else str(session.id)
    return f"{text[:-6]}:{text[-6:]}"


def audit_text(value: str, *, limit: int = 200) -> str:
    """Text from outside (a certificate's issuer name) made safe for an audit payload: long digit
    runs, which the log refuses as possible My Numbers, are elided; the length is capped."""
    return _LONG_DIGITS.sub("[数字省略]", value)[:limit]


def _audit(ctx: CallContext, action: str, **kwargs: Any) -> None:
    audit_record(actor=ctx.actor, action=action, source=ctx.source, request_id=ctx.request_id, **kwargs)


# --- Terminals -------------------------------------------------------------------------------


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


# --- The service calendar ----------------------------------------------------------------------


def _utc_iso(moment: datetime) -> str:
    # One spelling for a moment, whether it comes from the form (local time) or the database (UTC),
    # so that an unchanged date never shows up as a change.
    return moment.astimezone(UTC).isoformat()


def _audit_window(
    window: MaintenanceWindow,
    *,
    action: str,
    actor: Actor,
    source: str,
    request_id: str,
    before: MaintenanceWindow | None = None,
) -> None:
    # The reason is the clerk's free text: it stays in the calendar, not in the audit payload (a
    # change says only whether it changed). The dates are not personal data.
    payload: dict[str, Any] = {
        "window": window.pk,
        "starts_at": _utc_iso(window.starts_at),
        "ends_at": _utc_iso(window.ends_at),
    }
    if before is not None:
        payload["changed"] = {
            field: [_utc_iso(getattr(before, field)), _utc_iso(getattr(window, field))]
            for field in ("starts_at", "ends_at")
            if getattr(before, field) != getattr(window, field)
        }
        payload["reason_changed"] = before.reason != window.reason
    audit_record(actor=actor, action=action, payload=payload, source=source, request_id=request_id)


def maintenance_window_save(
    *, window: MaintenanceWindow, actor: Actor, source: str = "", request_id: str = ""
) -> MaintenanceWindow:
    """Add a maintenance window, or save a changed one (係長), audited (a change with its old and new
    dates); every app process sees the new calendar at once."""
    adding = window.pk is None
    action = "calendar.maintenance_added" if adding else "calendar.maintenance_changed"
    permission = "kiosk_api.add_maintenancewindow" if adding else "kiosk_api.change_maintenancewindow"
    actor_permission_require(actor=actor, permission=permission, action=action)
    with transaction.atomic():
        before = None if adding else MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
        window.save()
        _audit_window(window, action=action, actor=actor, source=source, request_id=request_id, before=before)
    door.maintenance_cache_clear()  # after the commit: a reader never caches the old windows anew
    return window


def maintenance_window_delete(
    *, window_id: int, actor: Actor, source: str = "", request_id: str = ""
) -> None:
    """Delete a maintenance window (係長), audited."""
    action = "calendar.maintenance_deleted"
    actor_permission_require(actor=actor, permission="kiosk_api.delete_maintenancewindow", action=action)
    with transaction.atomic():
        window = MaintenanceWindow.objects.select_for_update().get(pk=window_id)
        _audit_window(window, action=action, actor=actor, source=source, request_id=request_id)
        window.delete()
    door.maintenance_cache_clear()


# --- Sessions --------------------------------------------------------------------------------


def session_start(*, ctx: CallContext) -> KioskSession:
    """Open a session with a fresh 32-byte challenge (SPEC §3 step 1)."""
    with transaction.atomic():
        session = KioskSession.objects.create(
            terminal=ctx.terminal,
            challenge=secrets.token_bytes(CHALLENGE_BYTES),
            challenge_expires_at=ctx.now + CHALLENGE_LIFETIME,
            created_at=ctx.now,
            expires_at=ctx.now + SESSION_IDLE_LIFETIME,
        )
        _audit(ctx, "kiosk.session_started", payload={"session": _session_ref(session)})
    return session


def _session_max_lifetime() -> timedelta:
    """The absolute lifetime of a session from its start (``KONBINI_SESSION_MAX_SECONDS``)."""
    return timedelta(seconds=settings.KONBINI_SESSION_MAX_SECONDS)


def _session_get(*, ctx: CallContext, session_id: str) -> KioskSession:
    """The terminal's live session, its idle expiry moved forward, in one round trip.

    Another terminal's session, an ended one and a malformed id are all SESSION_NOT_FOUND: a
    terminal learns nothing about sessions it does not own. An expired session (idle for 180 s, or
    older than its absolute lifetime) abandons whatever it left unprinted: a timeout abandons the
    whole request, never just a lock, or the next applicant's file can be printed for someone else.
    """
    session_pk = _uuid_or_none(session_id)
    if session_pk is None:
        raise KioskError("SESSION_NOT_FOUND", reason="session_not_found")
    new_expiry = ctx.now + SESSION_IDLE_LIFETIME
    touched = _session_touch(
        session_pk=session_pk, terminal_id=ctx.terminal.pk, now=ctx.now, expiry=new_expiry
    )
    if touched is not None:
        return touched
    # Not touched: unknown, another terminal's, ended, or expired. Only the last needs work.
    session = KioskSession.objects.filter(pk=session_pk, terminal=ctx.terminal, ended_at__isnull=True).first()
    if session is None:
        raise KioskError("SESSION_NOT_FOUND", reason="session_not_found")
    _session_abandon(session_id=session.pk, ctx=ctx, reason="session_expired")
    raise KioskError("SESSION_EXPIRED", reason="session_expired")


def session_require(*, ctx: CallContext, session_id: str) -> None:
    """Raise SESSION_NOT_FOUND / SESSION_EXPIRED unless the session is live (views call it before
    reporting a malformed body, so that a missing resource is reported as missing, first)."""
    _session_get(ctx=ctx, session_id=session_id)


def _session_touch(
    *, session_pk: str, terminal_id: int, now: datetime, expiry: datetime
) -> KioskSession | None:
    """UPDATE ... RETURNING: slide the expiry of a live session and read it in the same statement.

    The condition is the whole rule (this terminal, not ended, not idle too long, not past its
    absolute lifetime), so a concurrent end or sweep wins over this call, never the reverse. Every
    kiosk call passes here.
    """
    return _SESSIONS.one(
        "UPDATE {table} SET expires_at = %s WHERE id = %s AND terminal_id = %s AND ended_at IS NULL"
        " AND expires_at > %s AND created_at > %s RETURNING {columns}",
        [
            _SESSIONS.prep("expires_at", expiry),
            _SESSIONS.prep("id", uuid.UUID(session_pk)),
            terminal_id,
            _SESSIONS.prep("expires_at", now),
            _SESSIONS.prep("created_at", now - _session_max_lifetime()),
        ],
    )


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _session_abandon(*, session_id: uuid.UUID, ctx: CallContext, reason: str) -> int:
    """Void every issuance of the session still waiting for its print, and drop its document."""
    abandoned = 0
    for record_id in KioskIssuance.objects.filter(
        session_id=session_id, status=KioskIssuance.Status.ISSUED
    ).values_list("pk", flat=True):
        with transaction.atomic():
            record = KioskIssuance.objects.select_for_update().get(pk=record_id)
            if record.status != KioskIssuance.Status.ISSUED:
                continue  # completed meanwhile by another process
            _issuance_close(record=record, ctx=ctx, outcome=KioskIssuance.Status.VOIDED, void_reason=reason)
            abandoned += 1
    return abandoned


# The live session to end, and whether it left anything unprinted, in one statement.
_SESSION_TO_END_SQL = (
    "SELECT s.resident_id, EXISTS ("  # noqa: S608 - the models' own table names
    f" SELECT 1 FROM {KioskIssuance._meta.db_table} i WHERE i.session_id = s.id AND i.status = %s"
    f") FROM {KioskSession._meta.db_table} s WHERE s.id = %s AND s.terminal_id = %s AND s.ended_at IS NULL"
)


def session_end(*, ctx: CallContext, session_id: str) -> None:
    """End a session (SPEC §3 step 6). Unprinted issuances are voided: no fee is due for them."""
    session_pk = _uuid_or_none(session_id)
    if session_pk is None:
        raise KioskError("SESSION_NOT_FOUND", reason="session_not_found")
    with connection.cursor() as cursor:
        cursor.execute(
            _SESSION_TO_END_SQL,
            [KioskIssuance.Status.ISSUED.value, _SESSIONS.prep("id", uuid.UUID(session_pk)), ctx.terminal.pk],
        )
        found = cursor.fetchone()
    if found is None:
        raise KioskError("SESSION_NOT_FOUND", reason="session_not_found")
    resident_id, unprinted = found
    if unprinted:
        _session_abandon(session_id=uuid.UUID(session_pk), ctx=ctx, reason="session_ended")
    with transaction.atomic():
        KioskSession.objects.filter(pk=session_pk, ended_at__isnull=True).update(ended_at=ctx.now)
        _audit(
            ctx,
            "kiosk.session_ended",
            resident_ids=[resident_id] if resident_id else [],
            payload={"session": _session_ref(session_pk)},
        )


def session_sweep(*, now: datetime, actor: Actor) -> int:
    """Abandon expired sessions' unprinted issuances (periodic; idempotent). Returns how many."""
    count = 0
    expired = (
        KioskSession.objects.filter(
            # Idle too long, or kept alive past the absolute lifetime by calls: both are over.
            Q(expires_at__lte=now) | Q(created_at__lte=now - _session_max_lifetime()),
            issuances__status=KioskIssuance.Status.ISSUED,
        )
        .select_related("terminal")
        .distinct()
    )
    for session in expired:
        ctx = CallContext(terminal=session.terminal, now=now, source="sweep", acting=actor)
        count += _session_abandon(session_id=session.pk, ctx=ctx, reason="session_expired")
    # Belt and braces: no document outlives its issuance's completion.
    StoredDocument.objects.filter(issuance__completed_at__isnull=False).delete()
    return count


# --- Card authentication ---------------------------------------------------------------------


@dataclass(frozen=True)
class OfferView:
    offer: Offer
    member_refs: tuple[tuple[str, str], ...]  # (member_ref, name) for juminhyo


@dataclass(frozen=True)
class AuthenticatedHolder:
    name: str
    offers: tuple[OfferView, ...]


def _serial_display(serial: str) -> str:
    # Colon-separated octets, as certificate viewers show serials; also never a 12-digit run.
    padded = serial if len(serial) % 2 == 0 else f"0{serial}"
    return ":".join(padded[i : i + 2] for i in range(0, len(padded), 2))


# A card link with its resident, as ``select_related("resident")`` would read them, by fixed SQL:
# card authentication and issuance each read one.
_CARD_LINK_WITH_HOLDER_SQL = (
    "SELECT {qualified_columns}, "  # noqa: S608 - the models' own tables and columns
    f"{_RESIDENTS.qualified_columns} FROM {{table}}"
    f" JOIN {_RESIDENTS.table} ON {_RESIDENTS.table}.id = {{table}}.resident_id WHERE "
)


def _card_link_with_holder(where: str, params: list[Any]) -> CardLink | None:
    found = _CARD_LINKS.one_and_rest(_CARD_LINK_WITH_HOLDER_SQL + where, params)
    if found is None:
        return None
    link, resident_columns = found
    link.resident = _RESIDENTS.instance(resident_columns)
    return link


# Failures that look like an attack (a forged signature, a crafted or foreign certificate, a
# replayed challenge) count against the terminal as well as the certificate.
_AUTH_FAILURES_AGAINST_TERMINAL = frozenset(
    {"SIGNATURE_INVALID", "CERTIFICATE_MALFORMED", "CERTIFICATE_UNTRUSTED", "CHALLENGE_USED"}
)
# A genuine card that cannot be used (expired, revoked, not linked to a resident) counts against
# its own certificate only: its holder retrying must not lock the store's kiosk for others.
_AUTH_FAILURES_AGAINST_CARD = frozenset({"CERTIFICATE_EXPIRED", "CERTIFICATE_REVOKED", "CARD_NOT_REGISTERED"})


def session_authenticate(
    *, ctx: CallContext, session_id: str, certificate_b64: str, signature_b64: str
) -> AuthenticatedHolder:
    """Challenge–response with the card's user-authentication certificate (SPEC §3 step 2, §4).

    The challenge is consumed first, whatever the outcome: one challenge, one attempt.
    """
    session = _session_get(ctx=ctx, session_id=session_id)
    payload: dict[str, Any] = {"session": _session_ref(session)}
    card: pki.CardCertificate | None = None
    try:
        door.auth_failures_check(terminal_id=ctx.terminal.pk, fingerprint=None)
        # Single use, atomically: of two concurrent calls exactly one UPDATE matches.
        consumed = KioskSession.objects.filter(
            pk=session.pk, challenge_used_at__isnull=True, challenge_expires_at__gt=ctx.now
        ).update(challenge_used_at=ctx.now)
        if not consumed:
            used = KioskSession.objects.filter(pk=session.pk, challenge_used_at__isnull=False).exists()
            if used:
                raise KioskError("CHALLENGE_USED", reason="challenge_used")
            raise KioskError("SESSION_EXPIRED", reason="challenge_expired")
        challenge = bytes(session.challenge)  # read with the session; this call now owns it
        card = pki.certificate_parse(certificate_b64)
        payload.update(issuer=audit_text(card.issuer), serial=_serial_display(card.serial))
        door.auth_failures_check(terminal_id=ctx.terminal.pk, fingerprint=card.fingerprint)
        anchor = pki.issuing_anchor(card.certificate, pki.trust_anchors())
        pki.certificate_check_usable(card.certificate, now=ctx.now)
        if crl_card_revoked(anchor=anchor, serial=card.serial, now=ctx.now):
            raise KioskError("CERTIFICATE_REVOKED", reason="certificate_revoked")
        pki.signature_check(card.certificate, signature_b64=signature_b64, challenge=challenge)
        link = _card_link_with_holder(
            "{table}.issuer = %s AND {table}.serial = %s", [card.issuer, card.serial]
        )
        if link is None:
            raise KioskError("CARD_NOT_REGISTERED", reason="card_not_linked")
    except KioskError as exc:
        # Count what could be an attack on a card or a terminal; not the server's or the clock's
        # doing (rate limits, an expired challenge, a missing CRL are never counted).
        if exc.code in _AUTH_FAILURES_AGAINST_TERMINAL or exc.code in _AUTH_FAILURES_AGAINST_CARD:
            door.auth_failure_count(
                terminal_id=ctx.terminal.pk,
                fingerprint=card.fingerprint if card else None,
                against_terminal=exc.code in _AUTH_FAILURES_AGAINST_TERMINAL,
            )
        _audit(ctx, "kiosk.authenticate", outcome=_REFUSED, reason=exc.reason, payload=payload)
        raise

    holder = link.resident
    offers = offers_for_holder(holder=holder, now=ctx.now, card_link=link)
    views: list[OfferView] = []
    member_refs: dict[str, int] = {}
    for offer in offers:
        refs: list[tuple[str, str]] = []
        for member in offer.members:
            ref = secrets.token_urlsafe(12)
            member_refs[ref] = member.resident_id
            refs.append((ref, member.name))
        views.append(OfferView(offer=offer, member_refs=tuple(refs)))
    shown_ids = {holder.pk, *member_refs.values()}
    with transaction.atomic():
        KioskSession.objects.filter(pk=session.pk).update(
            resident_id=holder.pk, card_link_id=link.pk, authenticated_at=ctx.now, member_refs=member_refs
        )
        _audit(
            ctx,
            "kiosk.authenticate",
            resident_ids=[holder.pk],
            # Which certificate the holder used: the card's and the smartphone's are revoked apart.
            payload={**payload, "card_link": link.pk, "credential": link.credential},
        )
        _audit(
            ctx,
            "kiosk.offers_shown",
            resident_ids=shown_ids,
            payload={
                "session": _session_ref(session),
                "offers": [
                    {"type": o.type, "available": o.available, "reason": o.reason or ""} for o in offers
                ],
            },
        )
    return AuthenticatedHolder(name=holder.full_name, offers=tuple(views))


def _session_authenticated(*, ctx: CallContext, session_id: str) -> KioskSession:
    session = _session_get(ctx=ctx, session_id=session_id)
    if session.resident_id is None or session.authenticated_at is None:
        raise KioskError("SESSION_NOT_AUTHENTICATED", reason="session_not_authenticated")
    return session


def _session_allowed_subjects(session: KioskSession) -> set[int]:
    """Whose data may leave through this session: the holder and the household members offered."""
    assert session.resident_id is not None
    return {session.resident_id, *(int(pk) for pk in session.member_refs.values())}


# --- Issuance --------------------------------------------------------------------------------


def _fingerprint(*, session_id: str, cert_type: str, copies: int, options: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"session": session_id, "type": cert_type, "copies": copies, "options": options},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _issue_request(
    *, session: KioskSession, cert_type: str, copies: int, options: dict[str, Any]
) -> IssueRequest:
    if cert_type == "juminhyo":
        scope = options.get("scope", "all")
        member_ids: tuple[int, ...] = ()
        if scope == "selected":
            refs: Sequence[str] = options.get("members") or []
            unknown = [ref for ref in refs if ref not in session.member_refs]
            if not refs or unknown:
                raise KioskError(
                    "INVALID_REQUEST",
                    reason="unknown_member_ref",
                    fields={"options.members": ["世帯員の指定が正しくありません。"]},
                )
            member_ids = tuple(int(session.member_refs[ref]) for ref in dict.fromkeys(refs))
        return IssueRequest(
            cert_type=cert_type,
            copies=copies,
            member_resident_ids=member_ids,
            scope=scope,
            show_relationship=bool(options.get("show_relationship", False)),
            show_honseki=bool(options.get("show_honseki", False)),
            show_my_number=bool(options.get("show_my_number", False)),
        )
    if cert_type in {"shotoku_kazei", "nozei"}:
        return IssueRequest(cert_type=cert_type, copies=copies, fiscal_year=int(options["fiscal_year"]))
    return IssueRequest(cert_type=cert_type, copies=copies)


# The idempotency row in one statement. A second request with the same key waits on the unique
# index until the first one's transaction ends, then inserts nothing and reads the first's row.
_ISSUANCE_CLAIM_SQL = (
    "INSERT INTO {table} (terminal_id, session_id, idempotency_key, request_fingerprint, status,"
    " refusal_code, certificate_numbers, fee_total, sha256, subject_resident_ids, created_at)"
    " VALUES (%s, %s, %s, %s, %s, '', %s, 0, '', %s, %s)"
    " ON CONFLICT (terminal_id, idempotency_key) DO NOTHING RETURNING {columns}"
)
_ISSUANCE_BY_KEY_SQL = "SELECT {columns} FROM {table} WHERE terminal_id = %s AND idempotency_key = %s"


def _issuance_claim(
    *, ctx: CallContext, session: KioskSession, idempotency_key: str, fingerprint: str
) -> KioskIssuance | None:
    """Insert the request's row, or None when the key is taken (by a committed request by now)."""
    return _ISSUANCES.one(
        _ISSUANCE_CLAIM_SQL,
        [
            ctx.terminal.pk,
            _ISSUANCES.prep("session", session.pk),
            idempotency_key,
            fingerprint,
            # Until the issuance succeeds in this same transaction; nobody sees the row before
            # the commit, so it is never seen half-done.
            KioskIssuance.Status.REFUSED.value,
            _ISSUANCES.prep("certificate_numbers", []),
            _ISSUANCES.prep("subject_resident_ids", []),
            _ISSUANCES.prep("created_at", ctx.now),
        ],
    )


def _replay(*, existing: KioskIssuance, fingerprint: str) -> KioskIssuance:
    if existing.request_fingerprint != fingerprint:
        raise KioskError("IDEMPOTENCY_KEY_REUSED", reason="idempotency_key_reused")
    if existing.status == KioskIssuance.Status.REFUSED:
        raise KioskError(existing.refusal_code, reason="replayed_refusal")
    return existing


def issuance_create(
    *,
    ctx: CallContext,
    session_id: str,
    idempotency_key: str,
    cert_type: str,
    copies: int,
    options: dict[str, Any],
) -> KioskIssuance:
    """Issue a certificate for the session's holder (SPEC §3 step 3), exactly once per key.

    The idempotency row is inserted first, inside the issuance's transaction: a second request
    with the same key blocks on the unique index until the first commits, then inserts nothing
    and answers with the first one's result. Refusals are kept too, so a retry gets the same answer.
    """
    session = _session_authenticated(ctx=ctx, session_id=session_id)
    fingerprint = _fingerprint(
        session_id=str(session.id), cert_type=cert_type, copies=copies, options=options
    )
    with transaction.atomic():
        record = _issuance_claim(
            ctx=ctx, session=session, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        if record is None:
            # A retry, or an identical request that won the race: answer with its result.
            existing = _ISSUANCES.one(_ISSUANCE_BY_KEY_SQL, [ctx.terminal.pk, idempotency_key])
            assert existing is not None  # rows are never deleted
            return _replay(existing=existing, fingerprint=fingerprint)
        # A malformed request raises here and rolls the claim back: nothing is kept for it.
        request = _issue_request(session=session, cert_type=cert_type, copies=copies, options=options)
        allowed = _session_allowed_subjects(session)
        refusal = _issuance_perform(ctx=ctx, session=session, record=record, request=request, allowed=allowed)
    if refusal is not None:
        raise refusal
    return record


def _issuance_perform(
    *,
    ctx: CallContext,
    session: KioskSession,
    record: KioskIssuance,
    request: IssueRequest,
    allowed: set[int],
) -> KioskError | None:
    """Inside the caller's transaction: issue, check the subjects, store the PDF encrypted."""
    assert session.resident_id is not None and session.card_link_id is not None
    link = _card_link_with_holder(
        "{table}.id = %s AND {table}.resident_id = %s", [session.card_link_id, session.resident_id]
    )
    holder = link.resident if link is not None else None
    refusal: KioskError | None = None
    if holder is None or link is None:
        # The mirror changed under the session (a full reload without this person or card).
        refusal = KioskError("NOT_AVAILABLE_AT_KIOSK", reason="holder_or_card_gone")
    else:
        try:
            issued = certificate_issue(
                holder=holder,
                request=request,
                actor=ctx.actor,
                terminal_label=str(ctx.terminal),
                now=ctx.now,
                card_link=link,
                source=ctx.source,
                request_id=ctx.request_id,
            )
        except CertificateRefused as exc:
            refusal = KioskError(exc.code, reason=exc.reason)
    if refusal is not None:
        record.refusal_code = refusal.code
        record.save(update_fields=["refusal_code"])
        _audit(
            ctx,
            "kiosk.issuance_refused",
            outcome=_REFUSED,
            reason=refusal.reason,
            resident_ids=[session.resident_id] if session.resident_id else [],
            payload={
                "session": _session_ref(session),
                "kiosk_issuance": record.pk,
                "type": request.cert_type,
            },
        )
        return refusal
    subjects = {int(pk) for pk in issued.issuance.printed_resident_ids}
    assert holder is not None
    expected_subjects = allowed if request.cert_type == "juminhyo" else {holder.pk}
    if not subjects or not subjects <= expected_subjects:
        # certificate_issue checked the finished PDF already; this is the door's own, independent
        # check against what this session was shown. The PDF is dropped, the issuance voided.
        issuance_void(issuance_id=issued.issuance.pk, reason="subject_mismatch", actor=ctx.actor)
        record.refusal_code = "NOT_AVAILABLE_AT_KIOSK"
        record.save(update_fields=["refusal_code"])
        _audit(
            ctx,
            "kiosk.issuance_refused",
            outcome=_REFUSED,
            reason="subject_mismatch",
            resident_ids=subjects | {holder.pk},
            certificate_numbers=issued.certificate_numbers,
            payload={
                "session": _session_ref(session),
                "kiosk_issuance": record.pk,
                "type": request.cert_type,
            },
        )
        return KioskError("NOT_AVAILABLE_AT_KIOSK", reason="subject_mismatch")
    record.status = KioskIssuance.Status.ISSUED
    record.issuance_record_id = issued.issuance.pk
    record.certificate_numbers = list(issued.certificate_numbers)
    record.fee_total = issued.fee_total
    record.sha256 = issued.sha256
    record.subject_resident_ids = sorted(subjects)
    record.save(
        update_fields=[
            "status",
            "issuance_record_id",
            "certificate_numbers",
            "fee_total",
            "sha256",
            "subject_resident_ids",
        ]
    )
    key_id, blob = document_encrypt(issued.pdf, issuance_id=record.pk, sha256=issued.sha256)
    StoredDocument.objects.create(issuance=record, key_id=key_id, ciphertext=blob, stored_at=ctx.now)
    _audit(
        ctx,
        "kiosk.issuance_created",
        resident_ids=subjects,
        certificate_numbers=record.certificate_numbers,
        payload={
            "session": _session_ref(session),
            "kiosk_issuance": record.pk,
            "issuance": issued.issuance.pk,
            "type": request.cert_type,
            "copies": request.copies,
            "fee_total": issued.fee_total,
        },
    )
    return None


def _issuance_pk(issuance_id: int | str) -> int:
    """The id from the URL, or SESSION_NOT_FOUND: no such row (also out of the column's range)."""
    try:
        pk = int(issuance_id)
    except (TypeError, ValueError):
        pk = 0
    if not 0 < pk < 2**63:
        raise KioskError("SESSION_NOT_FOUND", reason="issuance_not_found")
    return pk


_ISSUANCE_FOR_TERMINAL_SQL = (
    "SELECT {columns} FROM {table} WHERE id = %s AND terminal_id = %s AND status <> %s"
)
_ISSUANCE_FOR_TERMINAL_LOCKED_SQL = _ISSUANCE_FOR_TERMINAL_SQL + " FOR UPDATE"


def _issuance_for_terminal(*, ctx: CallContext, issuance_id: int | str, lock: bool = False) -> KioskIssuance:
    pk = _issuance_pk(issuance_id)
    # Fixed SQL: every completion passes here twice. A refused request has no issuance to show.
    record = _ISSUANCES.one(
        _ISSUANCE_FOR_TERMINAL_LOCKED_SQL
        if lock and connection.features.has_select_for_update
        else _ISSUANCE_FOR_TERMINAL_SQL,
        [pk, ctx.terminal.pk, KioskIssuance.Status.REFUSED.value],
    )
    if record is None:
        raise KioskError("SESSION_NOT_FOUND", reason="issuance_not_found")
    return record


_ISSUANCE_WITH_DOCUMENT_SQL = (
    "SELECT {qualified_columns}, d.key_id, d.ciphertext FROM {table}"  # noqa: S608 - the models' tables
    f" LEFT JOIN {StoredDocument._meta.db_table} d ON d.issuance_id = {{table}}.id"
    " WHERE {table}.id = %s AND {table}.terminal_id = %s AND {table}.status <> %s"
)


def _issuance_with_document(
    *, ctx: CallContext, issuance_id: int | str
) -> tuple[KioskIssuance, tuple[str, bytes] | None]:
    """As ``_issuance_for_terminal``, with its stored document's (key id, ciphertext) if it has one."""
    pk = _issuance_pk(issuance_id)
    found = _ISSUANCES.one_and_rest(
        _ISSUANCE_WITH_DOCUMENT_SQL, [pk, ctx.terminal.pk, KioskIssuance.Status.REFUSED.value]
    )
    if found is None:
        raise KioskError("SESSION_NOT_FOUND", reason="issuance_not_found")
    record, (key_id, ciphertext) = found
    return record, None if key_id is None else (str(key_id), bytes(ciphertext))


def issuance_require(*, ctx: CallContext, issuance_id: int | str) -> None:
    """Raise SESSION_NOT_FOUND unless the issuance exists and belongs to this terminal."""
    _issuance_for_terminal(ctx=ctx, issuance_id=issuance_id)


def document_fetch(*, ctx: CallContext, issuance_id: int | str) -> tuple[KioskIssuance, bytes]:
    """The PDF of an issuance still waiting for its print (SPEC §3 step 4), after the subject check."""
    record, stored = _issuance_with_document(ctx=ctx, issuance_id=issuance_id)
    session = _session_authenticated(ctx=ctx, session_id=str(record.session_id))
    if record.status != KioskIssuance.Status.ISSUED or stored is None:
        _audit(
            ctx,
            "kiosk.document_fetched",
            outcome=_REFUSED,
            reason="document_gone",
            certificate_numbers=record.certificate_numbers,
            payload={"kiosk_issuance": record.pk},
        )
        raise KioskError("DOCUMENT_GONE", reason="document_gone")
    subjects = {int(pk) for pk in record.subject_resident_ids}
    expected = _session_allowed_subjects(session)
    if not subjects or not subjects <= expected:
        with transaction.atomic():
            locked = KioskIssuance.objects.select_for_update().get(pk=record.pk)
            if locked.status == KioskIssuance.Status.ISSUED:
                _issuance_close(
                    record=locked,
                    ctx=ctx,
                    outcome=KioskIssuance.Status.VOIDED,
                    void_reason="subject_mismatch",
                )
            _audit(
                ctx,
                "kiosk.document_fetched",
                outcome=_REFUSED,
                reason="subject_mismatch",
                resident_ids=subjects,
                certificate_numbers=record.certificate_numbers,
                payload={"kiosk_issuance": record.pk},
            )
        raise KioskError("NOT_AVAILABLE_AT_KIOSK", reason="subject_mismatch")
    key_id, ciphertext = stored
    pdf = document_decrypt(bytes(ciphertext), key_id=key_id, issuance_id=record.pk, sha256=record.sha256)
    if hashlib.sha256(pdf).hexdigest() != record.sha256:
        raise KioskError("DOCUMENT_GONE", reason="document_digest_mismatch")
    _audit(
        ctx,
        "kiosk.document_fetched",
        resident_ids=subjects,
        certificate_numbers=record.certificate_numbers,
        payload={"kiosk_issuance": record.pk},
    )
    return record, pdf


def _issuance_close(*, record: KioskIssuance, ctx: CallContext, outcome: str, void_reason: str = "") -> None:
    """Inside the caller's transaction, with ``record`` locked: complete and drop the document."""
    assert record.issuance_record_id is not None
    if outcome == KioskIssuance.Status.PRINTED:
        issuance_mark_printed(issuance_id=record.issuance_record_id, actor=ctx.actor)
    else:
        issuance_void(issuance_id=record.issuance_record_id, reason=void_reason, actor=ctx.actor)
    record.status = outcome
    record.completed_at = ctx.now
    record.save(update_fields=["status", "completed_at"])
    StoredDocument.objects.filter(issuance=record).delete()
    _audit(
        ctx,
        "kiosk.issuance_completed",
        reason=void_reason,
        resident_ids=record.subject_resident_ids,
        certificate_numbers=record.certificate_numbers,
        payload={"kiosk_issuance": record.pk, "status": outcome},
    )


def issuance_complete(*, ctx: CallContext, issuance_id: int | str, outcome: str) -> KioskIssuance:
    """The kiosk's print outcome (SPEC §3 step 5): printed, or failed (voided, no fee)."""
    wanted = KioskIssuance.Status.PRINTED if outcome == "printed" else KioskIssuance.Status.VOIDED
    record = _issuance_for_terminal(ctx=ctx, issuance_id=issuance_id)
    _session_authenticated(ctx=ctx, session_id=str(record.session_id))
    with transaction.atomic():
        record = _issuance_for_terminal(ctx=ctx, issuance_id=issuance_id, lock=True)
        if record.status == wanted:
            return record  # a repeated report of the same outcome changes nothing
        if record.status != KioskIssuance.Status.ISSUED:
            raise KioskError(
                "INVALID_REQUEST",
                reason="issuance_already_completed",
                message=gettext("この証明書の交付はすでに完了しています。"),
            )
        _issuance_close(
            record=record, ctx=ctx, outcome=wanted, void_reason="" if wanted == "printed" else "print_failed"
        )
    return record


# --- Access history --------------------------------------------------------------------------


def session_access_history(*, ctx: CallContext, session_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The holder's own access history (SPEC §9), by role, never by a clerk's name."""
    session = _session_authenticated(ctx=ctx, session_id=session_id)
    assert session.resident_id is not None
    entries = access_history_for_resident(resident_id=session.resident_id, limit=limit)
    _audit(
        ctx,
        "kiosk.access_history_viewed",
        resident_ids=[session.resident_id],
        payload={"session": _session_ref(session)},
    )
    return [{"at": e.at, "accessor": e.accessor, "action": e.action} for e in entries]


__all__ = [
    "CallContext",
    "issuance_complete",
    "issuance_create",
    "maintenance_window_delete",
    "maintenance_window_save",
    "session_authenticate",
    "session_end",
    "session_start",
    "terminal_reactivate",
    "terminal_register",
    "terminal_revoke",
    "terminal_rotate_token",
    "terminal_suspend",
    "terminal_update",
]
