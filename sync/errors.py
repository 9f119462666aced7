"""Typed errors of the core-system feed (STYLE.md: retry later, reject, misconfigured).

Messages are Japanese for clerks and never carry personal data: they reach logs, alerts and the admin.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of the feed's errors; ``message`` is shown to clerks as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryLater(SyncError):
    """The source is unavailable (inbox missing or unreadable): nothing was done; try again later."""


class Misconfigured(SyncError):
    """The feed's configuration is wrong: stop and alert, retrying will not help."""


class BatchRejected(SyncError):
    """A whole batch is refused (SPEC §5): nothing of it is applied, the line stops at it."""

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason
