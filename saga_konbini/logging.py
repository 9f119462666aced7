"""JSON log lines with request ids, and the middleware that assigns the ids.

One JSON object per line: ``time``, ``level``, ``logger``, ``message``, ``request_id`` (and
``exception`` when there is one). The request id travels in a contextvar: each request (each
thread or task of a threaded gunicorn worker) sees its own value, nothing is shared between
requests, and code far from the request (services, audit) logs with the right id without being
handed it.

Personal data stays out: the middleware never logs bodies or query strings, and the formatter
masks any 12-digit run (the shape of a My Number) and any 16-digit card-serial-like run in the
message and the traceback, as a last line of defence against a careless log call.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

# "" outside a request (management commands, Celery tasks unless they set one).
request_id_var: ContextVar[str] = ContextVar("konbini_request_id", default="")

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's or kiosk's own id is kept when it is harmless; anything else is replaced.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# 12 digits (My Number) or longer digit runs, optionally split by spaces or hyphens in groups of 4.
_DIGIT_RUN = re.compile(r"(?<!\d)\d{4}[ -]?\d{4}[ -]?\d{4}(?:[ -]?\d{4})*(?!\d)")
MASK = "[REDACTED]"


def redact(text: str) -> str:
    """Mask every run of 12 or more digits (alone or grouped by 4), whatever it is."""
    return _DIGIT_RUN.sub(MASK, text)


def current_request_id() -> str:
    return request_id_var.get()


def _request_id_of(record: logging.LogRecord) -> str:
    # django.request logs a 4xx/5xx after the middleware chain has returned (the contextvar is
    # already reset); its records carry the request, whose META holds the id this module gave it.
    request = getattr(record, "request", None)
    meta = getattr(request, "META", None)
    value = meta.get("HTTP_X_REQUEST_ID", "") if isinstance(meta, dict) else ""
    return value if isinstance(value, str) and _REQUEST_ID.match(value) else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per line; Japanese kept readable (ensure_ascii off)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": request_id_var.get() or _request_id_of(record),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


class RequestIdMiddleware:
    """Gives every request an id (the caller's X-Request-ID if well-formed, else a new one),
    makes it the current id for logging, and returns it in the response header.

    Sits first in MIDDLEWARE so that every later layer (the kiosk API's own middleware reads
    X-Request-ID for the audit log) sees the same id.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        request.META["HTTP_X_REQUEST_ID"] = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response
