"""Prometheus metrics at /metrics: issuances, request latency, sync lag, checkpoint age.

Two kinds of figures:

- In-process instruments (request latency, issuance attempts observed by the issuing code) live in
  prometheus_client's registry. gunicorn runs several worker processes, so when
  ``PROMETHEUS_MULTIPROC_DIR`` is set the client writes them to shared files there and a scrape
  sums every process (``deploy/gunicorn.conf.py`` empties the folder at start and marks dead
  workers). Without it (runserver, tests) the plain per-process registry is used.
- Database figures (issuances by type and status, sync lag, open sync alerts, checkpoint age) are
  read at scrape time from the database, so they are the same whichever process answers and need
  no hook in the code that changes them.

/metrics is not public: it answers only to the addresses in METRICS_ALLOWED_IPS or to a request
bearing METRICS_TOKEN (``Authorization: Bearer ...``). Labels never carry personal data: route
names, HTTP methods, status classes, certificate types, outcomes.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from audit.request_context import client_address

logger = logging.getLogger(__name__)

# Buckets for kiosk calls: most answer in tens of milliseconds, issuance (render + sign) in
# hundreds; the kiosk gives up at 30 s (gunicorn timeout), so the top bucket sits just under it.
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# prometheus_client instruments are process-wide by design (they are the process's counters, and
# in multiprocess mode backed by files); they hold numbers only, never request data.
REQUEST_LATENCY = Histogram(
    "konbini_http_request_duration_seconds",
    "HTTP request latency by URL route name",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
ISSUANCE_ATTEMPTS = Counter(
    "konbini_issuance_attempts",
    "Issuance attempts seen by this deployment, by certificate type and outcome",
    ["cert_type", "outcome"],
)
ISSUANCE_LATENCY = Histogram(
    "konbini_issuance_duration_seconds",
    "Time to issue one certificate (eligibility, render, sign), by certificate type and outcome",
    ["cert_type", "outcome"],
    buckets=_LATENCY_BUCKETS,
)

ISSUANCE_OUTCOMES = frozenset({"issued", "refused", "failed", "replayed"})


def issuance_observed(cert_type: str, outcome: str, seconds: float) -> None:
    """Count one issuance attempt and its duration. For the issuing code to call once per attempt.

    ``outcome`` is one of ISSUANCE_OUTCOMES; anything else is counted as "failed" so that a typo
    in a caller cannot create unbounded label values.
    """
    label = outcome if outcome in ISSUANCE_OUTCOMES else "failed"
    ISSUANCE_ATTEMPTS.labels(cert_type=cert_type, outcome=label).inc()
    ISSUANCE_LATENCY.labels(cert_type=cert_type, outcome=label).observe(max(seconds, 0.0))


def _route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"  # 404s: the path itself would be an unbounded label (and may hold ids)
    return match.view_name or match.route or "unnamed"


class RequestMetricsMiddleware:
    """Times every request under its URL route name (never the path, which holds session ids)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        if request.path != "/metrics":
            REQUEST_LATENCY.labels(
                route=_route_of(request),
                method=request.method or "",
                status=f"{response.status_code // 100}xx",
            ).observe(time.perf_counter() - started)
        return response


# --- database figures, read at scrape time -----------------------------------------------------


def _age_seconds(stamp: datetime | None, now: datetime) -> float:
    # No stamp at all (never synced, never checkpointed) reads as +Inf: an alert rule fires on it.
    return float("inf") if stamp is None else max((now - stamp).total_seconds(), 0.0)


class DatabaseCollector(Collector):
    """Issuances by type and status, sync lag and alerts, audit checkpoint age, from the database."""

    def collect(self) -> Iterable[Metric]:
        from audit.models import AuditCheckpoint
        from certificates.models import IssuanceRecord
        from sync.models import SyncAlert, SyncCursor

        now = timezone.now()
        up = GaugeMetricFamily("konbini_metrics_database_up", "1 when the database answered this scrape")
        try:
            issuances = GaugeMetricFamily(
                "konbini_issuances",
                "Issuance records in the database by certificate type and status",
                labels=["cert_type", "status"],
            )
            rows = IssuanceRecord.objects.values("cert_type", "status").annotate(n=Count("id")).order_by()
            for row in rows:
                issuances.add_metric([row["cert_type"], row["status"]], row["n"])
            cursor = SyncCursor.objects.filter(pk=1).first()
            lag = GaugeMetricFamily(
                "konbini_sync_lag_seconds", "Seconds since the last core-system batch was applied"
            )
            lag.add_metric([], _age_seconds(cursor.last_applied_at if cursor else None, now))
            checked = GaugeMetricFamily(
                "konbini_sync_last_check_age_seconds", "Seconds since the sync job last looked at the inbox"
            )
            checked.add_metric([], _age_seconds(cursor.last_checked_at if cursor else None, now))
            alerts = GaugeMetricFamily(
                "konbini_sync_alerts_open", "Open sync alerts by kind", labels=["kind"]
            )
            open_by_kind = dict(
                SyncAlert.objects.filter(cleared_at__isnull=True)
                .values_list("kind")
                .annotate(n=Count("id"))
                .order_by()
            )
            for kind in SyncAlert.Kind.values:
                alerts.add_metric([kind], open_by_kind.get(kind, 0))
            latest = (
                AuditCheckpoint.objects.order_by("-tree_size").values_list("created_at", flat=True).first()
            )
            checkpoint = GaugeMetricFamily(
                "konbini_audit_checkpoint_age_seconds", "Seconds since the last signed audit checkpoint"
            )
            checkpoint.add_metric([], _age_seconds(latest, now))
        except DatabaseError:
            # The scrape still answers (with database_up 0) so that the outage itself is visible.
            logger.warning("metrics: the database did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, issuances, lag, checked, alerts, checkpoint)


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_text() -> bytes:
    """The exposition text: this deployment's process instruments, then the database figures."""
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    return generate_latest(_process_registry()) + generate_latest(database)


def _client_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    # settings validated every entry at start-up (an unparsable entry fails loudly there).
    return any(
        address in ipaddress.ip_network(allowed, strict=False) for allowed in settings.METRICS_ALLOWED_IPS
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics for Prometheus; 403 to anyone not allowed (no hint of what would be)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if not _client_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
