"""One exception handler for the kiosk API: domain errors and DRF's own errors in the SPEC shape.

``{"error": {"code", "message"}}`` (+ ``"fields"`` for validation errors), Japanese messages, for
every response under /api/kiosk/v1/ (SPEC §3). Errors outside DRF (unknown URLs, unhandled
exceptions) are shaped by ``kiosk_api.middleware``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions
from rest_framework.response import Response

from kiosk_api.errors import HTTP_FALLBACK_CODES, KioskError, error_body

logger = logging.getLogger(__name__)


def _fields(detail: Any) -> Any:
    """DRF's validation detail as plain strings (its ErrorDetail objects carry codes we drop)."""
    if isinstance(detail, dict):
        return {str(key): _fields(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_fields(item) for item in detail]
    return str(detail)


def kiosk_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, KioskError):
        headers = {"Retry-After": "60"} if exc.code == "RATE_LIMITED" else None
        return Response(exc.body(), status=exc.status, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        error = KioskError("INVALID_REQUEST", reason="validation_error", fields=_fields(exc.detail))
        return Response(error.body(), status=error.status)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        error = KioskError("TERMINAL_UNAUTHORIZED")
        return Response(
            error.body(), status=error.status, headers={"WWW-Authenticate": 'Bearer realm="kiosk"'}
        )
    if isinstance(exc, exceptions.Throttled):
        error = KioskError("RATE_LIMITED")
        return Response(error.body(), status=error.status)
    if isinstance(exc, Http404 | exceptions.NotFound):
        error = KioskError("SESSION_NOT_FOUND")
        return Response(error.body(), status=error.status)
    if isinstance(exc, exceptions.ParseError):
        # SPEC §3: INVALID_REQUEST is 422, whatever made the request invalid.
        error = KioskError("INVALID_REQUEST", reason="malformed_json")
        message = gettext("要求の本文をJSONとして読み取れませんでした。")
        return Response(error_body(error.code, message), status=error.status)
    if isinstance(exc, exceptions.APIException):
        status = exc.status_code
        code, fallback = HTTP_FALLBACK_CODES.get(status, HTTP_FALLBACK_CODES[400 if status < 500 else 500])
        return Response(error_body(code, str(fallback)), status=status)
    # Anything else is a bug: the middleware answers 500 in the SPEC shape and logs it.
    return None
