"""The process's Prometheus instruments: request latency, and the issuance attempts observed by the
issuing code. oversight/metrics.py serves them at /metrics next to the figures it reads from the
database.

They live in prometheus_client's registry. gunicorn runs several worker processes, so when
``PROMETHEUS_MULTIPROC_DIR`` is set the client writes them to shared files there and a scrape sums
every process (``deploy/gunicorn.conf.py`` empties the folder at start and marks dead workers).
Without it (runserver, tests) the plain per-process registry is used. Labels never carry personal
data: route names, HTTP methods, status classes, certificate types, outcomes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
)
from prometheus_client.multiprocess import MultiProcessCollector

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


def process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY
