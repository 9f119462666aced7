"""Kiosk sessions (SPEC §3 steps 1 and 6): start, the sliding and absolute expiry, end, the sweep.

A session lives in its database row only, so any app process can serve any call of it. An expired
session abandons whatever it left unprinted: a timeout abandons the whole request, never just a lock.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from audit.access_history import access_history_for_resident
from audit.services import Actor
from kiosk_api.errors import KioskError
from kiosk_api.models import KioskSession, StoredDocument
from kiosk_api.queries import SESSION_END_SQL, SESSIONS, session_touch
from kiosk_api.services.closing import ISSUED, session_abandon, unprinted
from kiosk_api.services.context import CallContext, kiosk_audit, session_max_lifetime, session_ref

CHALLENGE_BYTES = 32


CHALLENGE_LIFETIME = timedelta(seconds=60)  # SPEC §3


SESSION_IDLE_LIFETIME = timedelta(seconds=180)  # SPEC §3, sliding


def session_start(*, ctx: CallContext) -> KioskSession:
    """Open a session with a fresh 32-byte challenge (SPEC §3 step 1)."""
    with transaction.atomic(savepoint=False):
        session = KioskSession.objects.create(
            terminal=ctx.terminal,
            challenge=secrets.token_bytes(CHALLENGE_BYTES),
            challenge_expires_at=ctx.now + CHALLENGE_LIFETIME,
            created_at=ctx.now,
            expires_at=ctx.now + SESSION_IDLE_LIFETIME,
        )
        kiosk_audit(ctx, "kiosk.session_started", payload={"session": session_ref(session)})
    return session


def session_live(*, ctx: CallContext, session_id: str) -> KioskSession:
    """The terminal's live session, its idle expiry moved forward, in one round trip.

    Another terminal's session, an ended one and a malformed id are all SESSION_NOT_FOUND: a
    terminal learns nothing about sessions it does not own. An expired session (idle for 180 s, or
    older than its absolute lifetime) abandons whatever it left unprinted: a timeout abandons the
    whole request, never just a lock, or the next applicant's file can be printed for someone else.
    """
    session_pk = uuid_or_none(session_id)
    if session_pk is None:
        raise KioskError("SESSION_NOT_FOUND", reason="session_not_found")
    new_expiry = ctx.now + SESSION_IDLE_LIFETIME
    touched = session_touch(
        session_pk=session_pk, terminal_id=ctx.terminal.pk, now=ctx.now, expiry=new_expiry
    )
    if touched is not None:
        return touched
    # Not touched: unknown, another terminal's, ended, or expired. Only the last needs work.
    session = KioskSession.objects.filter(pk=session_pk, terminal=ctx.terminal, ended_at__isnull=True).first()
    if session is None:
        raise KioskError("SESSION_NOT_FOUND", reason="session_not_found")
    session_abandon(session_id=session.pk, ctx=ctx, reason="session_expired")
    raise KioskError("SESSION_EXPIRED", reason="session_expired")


def session_require(*, ctx: CallContext, session_id: str) -> None:
    """Raise SESSION_NOT_FOUND / SESSION_EXPIRED unless the session is live (views call it before
    reporting a malformed body, so that a missing resource is reported as missing, first)."""
    session_live(ctx=ctx, session_id=session_id)


def uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def session_end(*, ctx: CallContext, session_id: str) -> None:
    """End a session (SPEC §3 step 6). Unprinted issuances are voided: no fee is due for them."""
    session_pk = uuid_or_none(session_id)
    if session_pk is None:
        raise KioskError("SESSION_NOT_FOUND", reason="session_not_found")
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(
                SESSION_END_SQL,
                [
                    SESSIONS.prep("ended_at", ctx.now),
                    SESSIONS.prep("id", uuid.UUID(session_pk)),
                    ctx.terminal.pk,
                    ISSUED.value,
                ],
            )
            found = cursor.fetchone()
        if found is None:
            raise KioskError("SESSION_NOT_FOUND", reason="session_not_found")
        resident_id, unprinted = found
        kiosk_audit(
            ctx,
            "kiosk.session_ended",
            resident_ids=[resident_id] if resident_id else [],
            payload={"session": session_ref(session_pk)},
        )
    if unprinted:
        # Ended first, so no call of the session can start a print while its issuances are voided.
        session_abandon(session_id=uuid.UUID(session_pk), ctx=ctx, reason="session_ended")


def session_sweep(*, now: datetime, actor: Actor) -> int:
    """Abandon expired sessions' unprinted issuances (periodic; idempotent). Returns how many."""
    count = 0
    expired = KioskSession.objects.filter(
        # Idle too long, or kept alive past the absolute lifetime by calls: both are over.
        Q(expires_at__lte=now) | Q(created_at__lte=now - session_max_lifetime()),
        pk__in=unprinted().values("session_id"),
    ).select_related("terminal")
    for session in expired:
        ctx = CallContext(terminal=session.terminal, now=now, source="sweep", acting=actor)
        count += session_abandon(session_id=session.pk, ctx=ctx, reason="session_expired")
    # Belt and braces: no document outlives its issuance's completion.
    StoredDocument.objects.exclude(issuance__in=unprinted()).delete()
    return count


def session_authenticated(*, ctx: CallContext, session_id: str) -> KioskSession:
    session = session_live(ctx=ctx, session_id=session_id)
    if session.resident_id is None or session.authenticated_at is None:
        raise KioskError("SESSION_NOT_AUTHENTICATED", reason="session_not_authenticated")
    return session


def session_allowed_subjects(session: KioskSession) -> set[int]:
    """Whose data may leave through this session: the holder and the household members offered."""
    assert session.resident_id is not None
    return {session.resident_id, *(int(pk) for pk in session.member_refs.values())}


def session_access_history(*, ctx: CallContext, session_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The holder's own access history (SPEC §9), by role, never by a clerk's name."""
    session = session_authenticated(ctx=ctx, session_id=session_id)
    assert session.resident_id is not None
    entries = access_history_for_resident(resident_id=session.resident_id, limit=limit)
    kiosk_audit(
        ctx,
        "kiosk.access_history_viewed",
        resident_ids=[session.resident_id],
        payload={"session": session_ref(session)},
    )
    return [{"at": e.at, "accessor": e.accessor, "action": e.action} for e in entries]
