"""A database outage answers 503 with Retry-After instead of 500 (the probes are oversight/health.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """While PostgreSQL is unreachable (restart, failover), answer 503 with Retry-After instead of 500.

    Sits below the kiosk API's middleware so that its ``process_exception`` runs first (Django runs
    them bottom-up): the kiosk then gets a clear, retryable answer in the SPEC §3 error shape, and a
    browser a short Japanese page. The failed request's transaction was rolled back by the database,
    so nothing of it exists; the connection is replaced on the next request (CONN_HEALTH_CHECKS),
    and the process itself never needs a restart.
    """

    RETRY_AFTER_SECONDS = "5"
    CODE = "SERVICE_UNAVAILABLE"
    MESSAGE = _("ただいまシステムが混み合っているか停止しています。しばらくしてからもう一度お試しください。")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable: %s", type(exception).__name__)
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse(
                {"error": {"code": self.CODE, "message": str(self.MESSAGE)}},
                status=503,
                json_dumps_params={"ensure_ascii": False},
            )
        else:
            response = HttpResponse(str(self.MESSAGE), status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = self.RETRY_AFTER_SECONDS
        return response
