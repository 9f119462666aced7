"""/metrics: who may scrape it, and what the figures say."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from audit.checkpoints import checkpoint_create
from audit.services import Actor, audit_record
from certificates.models import IssuanceRecord
from saga_konbini.metrics import issuance_observed
from sync.models import SyncAlert, SyncCursor


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _issuance(cert_type: str, status: str) -> IssuanceRecord:
    return IssuanceRecord.objects.create(
        cert_type=cert_type,
        holder_resident_id=1,
        holder_resident_code="R000000001",
        copies=1,
        fee_total=200,
        status=status,
        pdf_sha256="0" * 64,
        terminal_label="テスト端末",
        issued_at=timezone.now(),
    )


@pytest.mark.django_db
def test_metrics_refuses_an_address_that_is_not_allowed(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 403
    assert b"konbini" not in response.content


@pytest.mark.django_db
def test_metrics_answers_an_allowed_network(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_metrics_token_lets_any_address_in_and_a_wrong_token_does_not(client, settings):
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    good = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    wrong = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer s3cret-scrape-tokeX")
    assert good.status_code == 200
    assert wrong.status_code == 403


@pytest.mark.django_db
def test_metrics_refuses_writes(client):
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405


@pytest.mark.django_db
def test_issuances_are_counted_by_type_and_status_from_the_database(client):
    _issuance("juminhyo", "printed")
    _issuance("juminhyo", "printed")
    _issuance("juminhyo", "voided")
    _issuance("inkan", "issued")

    samples = _samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content)

    assert samples[("konbini_issuances", (("cert_type", "juminhyo"), ("status", "printed")))] == 2
    assert samples[("konbini_issuances", (("cert_type", "juminhyo"), ("status", "voided")))] == 1
    assert samples[("konbini_issuances", (("cert_type", "inkan"), ("status", "issued")))] == 1
    assert samples[("konbini_metrics_database_up", ())] == 1


@pytest.mark.django_db
def test_sync_lag_and_open_alerts(client):
    now = timezone.now()
    SyncCursor.objects.create(pk=1, next_batch_number=5, last_applied_at=now - timedelta(hours=2))
    SyncAlert.objects.create(
        kind=SyncAlert.Kind.GAP, batch_number=4, message="欠番", raised_at=now, last_seen_at=now
    )
    SyncAlert.objects.create(
        kind=SyncAlert.Kind.OUTAGE, message="接続不可", raised_at=now, last_seen_at=now, cleared_at=now
    )

    samples = _samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content)

    lag = samples[("konbini_sync_lag_seconds", ())]
    assert 2 * 3600 <= lag < 3 * 3600
    assert samples[("konbini_sync_alerts_open", (("kind", "gap"),))] == 1
    assert samples[("konbini_sync_alerts_open", (("kind", "outage"),))] == 0


@pytest.mark.django_db
def test_never_synced_and_never_checkpointed_read_as_infinite_age(client):
    samples = _samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content)
    assert samples[("konbini_sync_lag_seconds", ())] == float("inf")
    assert samples[("konbini_audit_checkpoint_age_seconds", ())] == float("inf")


@pytest.mark.django_db
def test_checkpoint_age_follows_the_latest_checkpoint(client):
    audit_record(actor=Actor.job("sync"), action="sync.test", outcome="success")
    assert checkpoint_create() is not None

    samples = _samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content)

    assert 0 <= samples[("konbini_audit_checkpoint_age_seconds", ())] < 3600


@pytest.mark.django_db
def test_request_latency_is_labelled_by_route_name_never_by_path(client):
    client.get("/healthz")
    client.get("/no-such-page/R000000123")

    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    samples = _samples(body.encode())

    assert (
        samples[
            (
                "konbini_http_request_duration_seconds_count",
                (("method", "GET"), ("route", "healthz"), ("status", "2xx")),
            )
        ]
        >= 1
    )
    assert (
        "konbini_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "unmatched"), ("status", "4xx")),
    ) in samples
    assert "R000000123" not in body


@pytest.mark.django_db
def test_issuance_observed_counts_attempts_and_bounds_the_outcome_label(client):
    before = _samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content)
    key_issued = ("konbini_issuance_attempts_total", (("cert_type", "juminhyo"), ("outcome", "issued")))
    key_failed = ("konbini_issuance_attempts_total", (("cert_type", "juminhyo"), ("outcome", "failed")))

    issuance_observed("juminhyo", "issued", 0.3)
    issuance_observed("juminhyo", "no-such-outcome", 0.1)

    after = _samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content)
    assert after[key_issued] == before.get(key_issued, 0) + 1
    assert after[key_failed] == before.get(key_failed, 0) + 1
    assert not any(dict(labels).get("outcome") == "no-such-outcome" for _name, labels in after)


def test_multiprocess_mode_sums_every_process(tmp_path):
    """Two processes observe issuances into one PROMETHEUS_MULTIPROC_DIR; a third reads the sum."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "saga_konbini.settings",
    }
    observe = textwrap.dedent(
        """
        import django; django.setup()
        from saga_konbini.metrics import issuance_observed
        issuance_observed("inkan", "issued", 0.2)
        """
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", observe], env=env, check=True, timeout=120)
    read = textwrap.dedent(
        """
        import django; django.setup()
        from prometheus_client import generate_latest
        from saga_konbini.metrics import process_registry
        print(generate_latest(process_registry()).decode())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", read], env=env, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    samples = _samples(out.encode())
    assert samples[("konbini_issuance_attempts_total", (("cert_type", "inkan"), ("outcome", "issued")))] == 2
