"""The kiosk API's SQL: the fixed statements of the hot path (saga_konbini/fixed_sql.py says why).

Every statement here runs on every kiosk visit, so each reads or writes what its caller needs in one
round trip; everything else stays in the ORM, in the services.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from certificates.models import IssuanceRecord
from kiosk_api.models import KioskIssuance, KioskSession, StoredDocument
from kiosk_api.services.context import CallContext, session_max_lifetime
from residents.models import CardLink, Resident
from saga_konbini.fixed_sql import ModelRows

SESSIONS = ModelRows(KioskSession)


ISSUANCES = ModelRows(KioskIssuance)


CARD_LINKS = ModelRows(CardLink)


RESIDENTS = ModelRows(Resident)


def session_touch(
    *, session_pk: str, terminal_id: int, now: datetime, expiry: datetime
) -> KioskSession | None:
    """UPDATE ... RETURNING: slide the expiry of a live session and read it in the same statement.

    The condition is the whole rule (this terminal, not ended, not idle too long, not past its
    absolute lifetime), so a concurrent end or sweep wins over this call, never the reverse. Every
    kiosk call passes here.
    """
    return SESSIONS.one(
        "UPDATE {table} SET expires_at = %s WHERE id = %s AND terminal_id = %s AND ended_at IS NULL"
        " AND expires_at > %s AND created_at > %s RETURNING {columns}",
        [
            SESSIONS.prep("expires_at", expiry),
            SESSIONS.prep("id", uuid.UUID(session_pk)),
            terminal_id,
            SESSIONS.prep("expires_at", now),
            SESSIONS.prep("created_at", now - session_max_lifetime()),
        ],
    )


# End the terminal's live session, and tell whether it left anything unprinted, in one statement.
SESSION_END_SQL = (
    f"UPDATE {KioskSession._meta.db_table} SET ended_at = %s"  # noqa: S608 - the models' own tables
    " WHERE id = %s AND terminal_id = %s AND ended_at IS NULL RETURNING resident_id, EXISTS ("
    f" SELECT 1 FROM {KioskIssuance._meta.db_table} i JOIN {IssuanceRecord._meta.db_table} r"
    f" ON r.id = i.issuance_record_id WHERE i.session_id = {KioskSession._meta.db_table}.id"
    " AND r.status = %s)"
)


# A card link with its resident, as ``select_related("resident")`` would read them, by fixed SQL:
# card authentication and issuance each read one.
CARD_LINK_WITH_HOLDER_SQL = (
    "SELECT {qualified_columns}, "  # noqa: S608 - the models' own tables and columns
    f"{RESIDENTS.qualified_columns} FROM {{table}}"
    f" JOIN {RESIDENTS.table} ON {RESIDENTS.table}.id = {{table}}.resident_id WHERE "
)


def card_link_with_holder(where: str, params: list[Any]) -> CardLink | None:
    found = CARD_LINKS.one_and_rest(CARD_LINK_WITH_HOLDER_SQL + where, params)
    if found is None:
        return None
    link, resident_columns = found
    link.resident = RESIDENTS.instance(resident_columns)
    return link


# The idempotency row in one statement. A second request with the same key waits on the unique
# index until the first one's transaction ends, then inserts nothing and reads the first's row.
ISSUANCE_CLAIM_SQL = (
    "INSERT INTO {table} (terminal_id, session_id, idempotency_key, request_fingerprint,"
    " refusal_code, certificate_numbers, fee_total, sha256, subject_resident_ids, created_at)"
    " VALUES (%s, %s, %s, %s, '', %s, 0, '', %s, %s)"
    " ON CONFLICT (terminal_id, idempotency_key) DO NOTHING RETURNING {columns}"
)


ISSUANCE_BY_KEY_SQL = "SELECT {columns} FROM {table} WHERE terminal_id = %s AND idempotency_key = %s"


def issuance_claim(
    *, ctx: CallContext, session: KioskSession, idempotency_key: str, fingerprint: str
) -> KioskIssuance | None:
    """Insert the request's row, or None when the key is taken (by a committed request by now)."""
    return ISSUANCES.one(
        ISSUANCE_CLAIM_SQL,
        [
            ctx.terminal.pk,
            ISSUANCES.prep("session", session.pk),
            idempotency_key,
            fingerprint,
            ISSUANCES.prep("certificate_numbers", []),
            ISSUANCES.prep("subject_resident_ids", []),
            ISSUANCES.prep("created_at", ctx.now),
        ],
    )


# The terminal's issued request with its issuance's state (a refused request has no issuance to
# show), and its stored document's (key id, ciphertext) if it still has one.
ISSUANCE_FOR_TERMINAL_SQL = (
    "SELECT {qualified_columns}, r.status, r.void_reason, d.key_id, d.ciphertext FROM {table}"  # noqa: S608
    f" JOIN {IssuanceRecord._meta.db_table} r ON r.id = {{table}}.issuance_record_id"
    f" LEFT JOIN {StoredDocument._meta.db_table} d ON d.issuance_id = {{table}}.id"
    " WHERE {table}.id = %s AND {table}.terminal_id = %s"
)
