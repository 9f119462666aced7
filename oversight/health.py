"""Liveness and readiness probes (SPEC §9): readiness asks the database, Redis and the mirror."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from sync.selectors import mirror_freshness


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up; nothing else is checked."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers, Redis answers when configured, the mirror is fresh."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        checks["database"] = "unavailable"
    if settings.REDIS_URL:
        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping()
            checks["redis"] = "ok"
        except redis.RedisError:
            checks["redis"] = "unavailable"
    if checks["database"] == "ok":
        freshness = mirror_freshness()
        checks["mirror"] = "ok" if freshness.is_fresh else "stale"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
