"""Audit fixtures: each test signs with its own key into its own checkpoint folder; personas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connections
from django.db.backends.utils import CursorWrapper
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


# Tests that edit the log behind the application's back: the edit is the owner's, on the owner's
# connection, so the rows it edits must be committed (a transactional test) for both to see them.
AS_OWNER = pytest.mark.django_db(transaction=True, databases=["default", "owner"])


@contextmanager
def triggers_disabled(*tables: str) -> Iterator[CursorWrapper]:
    """Edit the log behind the application's back, as the database's owner (a DBA) could: a cursor
    on the owner's connection, in autocommit, with the triggers of ``tables`` off meanwhile. The
    application's own role cannot do this (tests/audit/test_database_roles.py)."""
    owner = connections["owner"]
    assert owner.vendor == "postgresql", "these tests exercise PostgreSQL triggers: set DATABASE_URL"
    with owner.cursor() as cursor:
        # A test still holding a lock on the table in an open transaction fails instead of hanging.
        cursor.execute("SET lock_timeout = '10s'")
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield cursor
        finally:
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def owner_sql(statement: str, params: tuple[Any, ...] = ()) -> None:
    """One statement on the owner's connection (inside ``triggers_disabled`` for the log)."""
    with connections["owner"].cursor() as cursor:
        cursor.execute(statement, params)


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
