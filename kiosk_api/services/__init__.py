"""The kiosk API's services (SPEC §3), one module per subject: terminals, the maintenance calendar,
sessions, card authentication, issuance, and closing what a kiosk holds. Their SQL is in
kiosk_api/queries.py.

Every step carries its own data from start to end in database rows (in 2023 a request that
overwrote another's printed one resident's certificate for another): nothing is kept in process
memory between requests, so any number of app processes can serve one kiosk.

The names below are the app's service surface, for callers outside it (commands, other apps).
"""

from kiosk_api.services.authentication import AuthenticatedHolder, OfferView, session_authenticate
from kiosk_api.services.context import CallContext, audit_text
from kiosk_api.services.issuance import document_fetch, issuance_complete, issuance_create, issuance_require
from kiosk_api.services.maintenance import maintenance_window_delete, maintenance_window_save
from kiosk_api.services.sessions import (
    session_access_history,
    session_end,
    session_require,
    session_start,
    session_sweep,
)
from kiosk_api.services.terminals import (
    terminal_reactivate,
    terminal_register,
    terminal_revoke,
    terminal_rotate_token,
    terminal_suspend,
    terminal_update,
)

__all__ = [
    "AuthenticatedHolder",
    "CallContext",
    "OfferView",
    "audit_text",
    "document_fetch",
    "issuance_complete",
    "issuance_create",
    "issuance_require",
    "maintenance_window_delete",
    "maintenance_window_save",
    "session_access_history",
    "session_authenticate",
    "session_end",
    "session_require",
    "session_start",
    "session_sweep",
    "terminal_reactivate",
    "terminal_register",
    "terminal_revoke",
    "terminal_rotate_token",
    "terminal_suspend",
    "terminal_update",
]
