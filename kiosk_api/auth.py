"""Terminal authentication by bearer token, pretix-device style (STYLE.md).

The token is looked up by its SHA-256 (a unique index), so nothing secret is compared in Python
and the database never holds a usable token. Revoked terminals are simply unknown (401);
suspended ones are told so (403 TERMINAL_SUSPENDED).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from kiosk_api.errors import KioskError
from kiosk_api.models import Terminal
from saga_konbini.fixed_sql import ModelRows

# last_seen_at is a clerk's hint, not an audit record: write it at most once a minute per terminal
# instead of on every call (a hot row updated by every kiosk request would serialise them).
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
_TERMINALS = ModelRows(Terminal)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TerminalTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Terminal] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme != self.keyword or not token or len(token) > 200:
            raise KioskError("TERMINAL_UNAUTHORIZED", reason="malformed_authorization")
        terminal = _terminal_by_token_hash(token_hash(token))
        if terminal is None:
            raise KioskError("TERMINAL_UNAUTHORIZED", reason="unknown_token")
        if terminal.status == Terminal.Status.SUSPENDED:
            raise KioskError("TERMINAL_SUSPENDED", reason="terminal_suspended")
        _touch_last_seen(terminal)
        # request.user stays anonymous: a terminal is not a Django user; views read request.auth.
        return (None, terminal)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="kiosk"'


def _terminal_by_token_hash(digest: str) -> Terminal | None:
    """The terminal holding the token, unless revoked.

    Every kiosk call starts here: a fixed statement costs a fraction of the CPU of the ORM compiling
    ``filter().exclude().first()`` anew for each request (about a millisecond on a small server).
    """
    return _TERMINALS.one(
        "SELECT {columns} FROM {table} WHERE token_hash = %s AND status <> %s",
        [digest, Terminal.Status.REVOKED.value],
    )


def _touch_last_seen(terminal: Terminal) -> None:
    now = timezone.now()
    cutoff = now - LAST_SEEN_RESOLUTION
    if terminal.last_seen_at is not None and terminal.last_seen_at >= cutoff:
        return
    # Conditional UPDATE: of several processes seeing a stale value, the first one writes.
    Terminal.objects.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=cutoff), pk=terminal.pk).update(
        last_seen_at=now
    )
    terminal.last_seen_at = now
