"""Prometheus metrics at /metrics: issuances, request latency, sync lag, checkpoint age.

The process's instruments (saga_konbini/metrics.py), then figures read from the database at scrape
time (issuances by type and status, sync lag, open sync alerts, checkpoint age), so that they are the
same whichever process answers and need no hook in the code that changes them.

/metrics is not public: it answers only to the addresses in METRICS_ALLOWED_IPS or to a request
bearing METRICS_TOKEN (``Authorization: Bearer ...``). Labels never carry personal data: route
names, HTTP methods, status classes, certificate types, outcomes.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from audit.models import AuditCheckpoint
from audit.request_context import client_address
from certificates.models import IssuanceRecord
from saga_konbini.metrics import process_registry
from sync.models import SyncAlert, SyncCursor

logger = logging.getLogger(__name__)


def _age_seconds(stamp: datetime | None, now: datetime) -> float:
    # No stamp at all (never synced, never checkpointed) reads as +Inf: an alert rule fires on it.
    return float("inf") if stamp is None else max((now - stamp).total_seconds(), 0.0)


class DatabaseCollector(Collector):
    """Issuances by type and status, sync lag and alerts, audit checkpoint age, from the database."""

    def collect(self) -> Iterable[Metric]:
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


def metrics_text() -> bytes:
    """The exposition text: this deployment's process instruments, then the database figures."""
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    return generate_latest(process_registry()) + generate_latest(database)


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
