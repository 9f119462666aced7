"""Who calls the kiosk API's services, and how their acts are audited.

``CallContext`` is passed explicitly through every service (terminal, clock, source address, request
id): nothing is "current", so two requests never see each other's data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from kiosk_api.models import KioskSession, Terminal

REFUSED = AuditEvent.Outcome.REFUSED


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


def session_ref(session: KioskSession | str) -> str:
    """The session id for audit payloads. The audit log refuses any run of exactly 12 digits (a My
    Number look-alike), and a UUID's last group can be one: it is written split in two."""
    text = session if isinstance(session, str) else str(session.id)
    return f"{text[:-6]}:{text[-6:]}"


def audit_text(value: str, *, limit: int = 200) -> str:
    """Text from outside (a certificate's issuer name) made safe for an audit payload: long digit
    runs, which the log refuses as possible My Numbers, are elided; the length is capped."""
    return _LONG_DIGITS.sub("[数字省略]", value)[:limit]


def kiosk_audit(ctx: CallContext, action: str, **kwargs: Any) -> None:
    audit_record(actor=ctx.actor, action=action, source=ctx.source, request_id=ctx.request_id, **kwargs)


def session_max_lifetime() -> timedelta:
    """The absolute lifetime of a session from its start (``KONBINI_SESSION_MAX_SECONDS``)."""
    return timedelta(seconds=settings.KONBINI_SESSION_MAX_SECONDS)
