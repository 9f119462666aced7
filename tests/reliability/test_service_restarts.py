"""PostgreSQL restarted and Redis stopped under load.

These restart the shared servers of the machine (as CI runs them: .ci/run starts both), briefly,
and always bring them back. PostgreSQL: kiosks keep issuing through a live gunicorn while the server
restarts; every failure is a clean 503 in the SPEC shape (kiosks retry with the same key), no
issuance is half-made, and the same gunicorn processes serve again afterwards. Redis: issuance goes
on while it is down, and a Celery worker picks up work again once it is back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from django.utils import timezone

from audit.models import AuditEvent
from certificates.models import IssuanceRecord
from kiosk_api.models import KioskIssuance
from simulators.kiosk_client import KioskApiError, KioskClient
from sync.models import SyncCursor
from tests.reliability.live import REQUESTS, ROOT, Kiosk, app_environment, gunicorn_servers, kiosks_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _pg_cluster() -> tuple[str, str]:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or shutil.which("pg_ctlcluster") is None:
        pytest.fail("pg_ctlcluster and /etc/postgresql are needed (as .ci/run uses them)")
    return versions[0], "main"


def _pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"], check=False).returncode == 0


def _redis_port_host() -> tuple[str, int]:
    parts = urllib.parse.urlsplit(django_settings.REDIS_URL)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def _redis_up() -> bool:
    host, port = _redis_port_host()
    done = subprocess.run(
        ["redis-cli", "-h", host, "-p", str(port), "ping"], capture_output=True, check=False
    )
    return done.stdout.strip() == b"PONG"


def _redis_start() -> None:
    host, port = _redis_port_host()
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(100):
        if _redis_up():
            return
        time.sleep(0.1)
    raise AssertionError("redis did not come back")


class Load:
    """Kiosks issuing in a loop until stopped; every outcome is kept for the checks."""

    def __init__(self, kiosks: list[Kiosk], url: str) -> None:
        self.kiosks, self.url = kiosks, url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok: Counter[str] = Counter()
        self.failures: Counter[tuple[int, str]] = Counter()
        self.keys_done: list[tuple[int, str, int]] = []  # (kiosk, key, issuance id)
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in kiosks]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=300)

    def _fail(self, exc: KioskApiError) -> None:
        with self.lock:
            self.failures[(exc.status, exc.code)] += 1

    def _run(self, kiosk: Kiosk) -> None:
        client = KioskClient(self.url, kiosk.token, timeout=60)
        visit = 0
        while not self.stop.is_set():
            visit += 1
            try:
                session = client.session_start()
                sid = session["session_id"]
                client.authenticate(sid, kiosk.card, session["challenge"])
                cert_type, options = REQUESTS[visit % len(REQUESTS)]
                key = f"r{kiosk.index}-{visit}"
                issuance = self._issue_with_retries(client, sid, cert_type, options, key)
                client.document(issuance)
                client.complete(int(issuance["issuance_id"]), "printed")
                client.session_end(sid)
            except KioskApiError as exc:
                self._fail(exc)
                time.sleep(0.2)
                continue
            with self.lock:
                self.ok["visits"] += 1
                self.keys_done.append((kiosk.index, key, int(issuance["issuance_id"])))

    def _issue_with_retries(
        self, client: KioskClient, sid: str, cert_type: str, options: dict[str, Any], key: str
    ) -> dict[str, Any]:
        # A kiosk retries a 503 with the same Idempotency-Key: it may have been issued already.
        for _ in range(60):
            try:
                return client.issue(sid, cert_type=cert_type, copies=1, options=options, key=key)
            except KioskApiError as exc:
                if exc.status not in (0, 503):
                    raise
                self._fail(exc)
                time.sleep(0.5)
        raise KioskApiError(0, "GAVE_UP", "retries exhausted")


def _wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_postgresql_restarted_under_load(tmp_path: Path, settings):
    version, cluster = _pg_cluster()
    settings.KONBINI_SIGNING_DIR = tmp_path / "signing"
    kiosks = kiosks_create(6, pki_dir=tmp_path / "pki", settings=settings)
    env = app_environment(tmp_path, settings)
    with gunicorn_servers(1, env, tmp_path) as (server,):
        pid = server.process.pid
        with Load(kiosks, server.url) as load:
            _wait_for(lambda: load.ok["visits"] >= 6, 300, "issuances before the restart")
            connection.close()
            restart = subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "restart"],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            try:
                assert restart.returncode == 0, restart.stderr
                _wait_for(_pg_ready, 120, "PostgreSQL back")
            finally:
                if not _pg_ready():  # never leave the shared server down
                    subprocess.run(
                        ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"], check=False
                    )
            before = load.ok["visits"]
            _wait_for(lambda: load.ok["visits"] >= before + 12, 300, "issuances after the restart")
        assert server.process.poll() is None and server.process.pid == pid  # served again, not restarted
    for alias in connections:
        connections[alias].close()

    # Failures were clean: a 503 in the SPEC shape from the same running app, never a 500, never a
    # dropped connection.
    print(f"failures during the restart: {dict(load.failures)}; visits {load.ok['visits']}")
    assert load.failures, "the restart was not felt: the test did not test anything"
    assert set(load.failures) == {(503, "SERVICE_UNAVAILABLE")}, load.failures
    # No half-made issuance: every record has its kiosk issuance and its audit event, and the other
    # way round; each idempotency key made at most one.
    records = IssuanceRecord.objects.all()
    linked = set(
        KioskIssuance.objects.exclude(issuance_record_id=None).values_list("issuance_record_id", flat=True)
    )
    assert set(records.values_list("pk", flat=True)) == linked
    assert AuditEvent.objects.filter(action="certificate.issued").count() == records.count()
    for kiosk_index, _key, issuance_id in load.keys_done:
        issuance = KioskIssuance.objects.get(pk=issuance_id)
        assert issuance.issuance_record_id is not None
        record = IssuanceRecord.objects.get(pk=issuance.issuance_record_id)
        assert record.status == "printed"
        assert record.holder_resident_id == kiosks[kiosk_index].holder.pk


def test_redis_stopped_issuance_goes_on_and_workers_recover(tmp_path: Path, settings):
    if not django_settings.REDIS_URL:
        pytest.fail("REDIS_URL must be set: this test stops and restarts Redis")
    settings.KONBINI_SIGNING_DIR = tmp_path / "signing"
    kiosks = kiosks_create(4, pki_dir=tmp_path / "pki", settings=settings)
    env = app_environment(tmp_path, settings)
    worker_log = (tmp_path / "worker.log").open("ab")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "saga_konbini",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
        ],
        env={**env, "SYNC_INBOX_DIR": str(settings.SYNC_INBOX_DIR)},
        cwd=ROOT,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    from sync.tasks import sync_run_task

    def checked_since(moment: datetime) -> bool:
        cursor = SyncCursor.objects.filter(pk=1).first()
        return cursor is not None and cursor.last_checked_at is not None and cursor.last_checked_at > moment

    try:
        first = timezone.now()
        sync_run_task.delay()
        _wait_for(lambda: checked_since(first), 120, "the worker to run a task")
        with gunicorn_servers(1, env, tmp_path) as (server,), Load(kiosks, server.url) as load:
            _wait_for(lambda: load.ok["visits"] >= 4, 300, "issuances before Redis stops")
            host, port = _redis_port_host()
            subprocess.run(["redis-cli", "-h", host, "-p", str(port), "shutdown", "nosave"], check=False)
            try:
                _wait_for(lambda: not _redis_up(), 30, "Redis to stop")
                during = load.ok["visits"]
                _wait_for(lambda: load.ok["visits"] >= during + 8, 300, "issuances while Redis is down")
            finally:
                _redis_start()
        assert not load.failures, load.failures  # issuance never needed Redis
        assert worker.poll() is None, "the worker died with Redis"
        second = timezone.now()
        sync_run_task.delay()
        _wait_for(lambda: checked_since(second), 180, "the worker to run a task after Redis came back")
    finally:
        if not _redis_up():
            _redis_start()
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        worker_log.close()
