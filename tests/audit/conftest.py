"""Audit fixtures: each test signs with its own key into its own checkpoint folder; personas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from oversight.views import AUDITOR_GROUP


@pytest.fixture(autouse=True)
def _audit_dirs(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path / "var"
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    for name in ("AUDIT_SIGNING_KEY", "AUDIT_PUBLIC_KEY", "AUDIT_RETIRED_PUBLIC_KEYS"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    return settings


@pytest.fixture
def record_events(django_capture_on_commit_callbacks) -> Callable[..., list[AuditEvent]]:
    """Record ``count`` events and run the after-commit sealer, as a real commit would."""

    def record(
        count: int, *, action: str = "kiosk.issue", resident_ids: tuple[int, ...] = (7, 9)
    ) -> list[AuditEvent]:
        with django_capture_on_commit_callbacks(execute=True):
            return [
                audit_record(
                    actor=Actor.job("test"),
                    action=action,
                    resident_ids=resident_ids,
                    certificate_numbers=[f"C-{n:04d}"],
                    payload={"n": n, "cert_type": "juminhyo"},
                )
                for n in range(count)
            ]

    return record


@contextmanager
def triggers_disabled(*tables: str) -> Iterator[None]:
    """Edit the log behind the application's back, as a DBA could (PostgreSQL only)."""
    assert connection.vendor == "postgresql", "these tests exercise PostgreSQL triggers: set DATABASE_URL"
    with connection.cursor() as cursor:
        # Deferred foreign-key checks still pending in the test's transaction block ALTER TABLE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.fixture
def auditor(db) -> User:
    user = User.objects.create_user("kansa", password="kansa-password-123", is_staff=True)
    group, _ = Group.objects.get_or_create(name=AUDITOR_GROUP)
    user.groups.add(group)
    return user


@pytest.fixture
def clerk(db) -> User:
    return User.objects.create_user("shokuin", password="shokuin-password-123", is_staff=True)


@pytest.fixture
def verify_now(monkeypatch, django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Press 「今すぐ検証する」 and run the queued task at once, as the worker would (the real task,
    called directly instead of through the broker); returns the chain page the POST redirects to."""
    from audit.tasks import audit_verify_task

    monkeypatch.setattr(audit_verify_task, "delay", lambda run_id: audit_verify_task(run_id))

    def verify(client: Client, **headers: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("audit:chain_verify"), **headers)
        assert response.status_code == 303 and response["Location"] == reverse("audit:chain")
        return client.get(response["Location"], **headers)

    return verify
