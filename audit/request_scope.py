"""The client address and request id of the request being served, as the defaults of the audit
events recorded while it is served.

A staff action deep in a service (a void, a lifted stop, a refused permission) must say "from
where" (SPEC §6) even when no caller passed it down. These are context variables, like the
logging's request id: each request (each thread or task) sees its own, nothing outlives the
request, and outside a request (Celery jobs, management commands) they are empty. An explicit
``source`` or ``request_id`` given to ``audit_record`` wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_source: ContextVar[str] = ContextVar("audit_request_source", default="")
_request_id: ContextVar[str] = ContextVar("audit_request_id", default="")


def request_source_current() -> str:
    return _source.get()


def request_id_current() -> str:
    return _request_id.get()


@contextmanager
def request_scope(*, source: str, request_id: str) -> Iterator[None]:
    source_token, request_token = _source.set(source), _request_id.set(request_id)
    try:
        yield
    finally:
        _source.reset(source_token)
        _request_id.reset(request_token)
