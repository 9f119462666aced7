"""SPEC §6: nobody who runs the application can rewrite the audit log. The tests' own connection is
the application's role (tests/conftest.py); these statements are what a taken web process would
try. The auditors' role reads and verifies, and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from audit.checkpoints import checkpoint_create
from audit.database_roles import AUDIT_APP_EXCEPTIONS, audit_tables
from audit.models import AuditChainHead, AuditEvent
from tests.audit.conftest import AS_OWNER
from tests.conftest import auditor_role

# What a process holding the application's connection would try on each table of the log.
ATTEMPTS = {
    "UPDATE": "UPDATE {table} SET {pk} = {pk}",
    "DELETE": "DELETE FROM {table}",
    "TRUNCATE": "TRUNCATE {table} CASCADE",
    "ALTER TABLE": "ALTER TABLE {table} ADD COLUMN forged text",
    "DISABLE TRIGGER": "ALTER TABLE {table} DISABLE TRIGGER USER",
    "DROP": "DROP TABLE {table} CASCADE",
}
# The three tables that are not the log itself keep the one change their job needs (the chain head
# moves forward, a chained event leaves the queue, a verification records its progress).
ALLOWED = {
    table: {kind for kind in ("UPDATE", "DELETE") if kind in privileges}
    for table, privileges in AUDIT_APP_EXCEPTIONS.items()
}
PRIMARY_KEYS = {
    model._meta.db_table: model._meta.pk.column for model in apps.get_app_config("audit").get_models()
}
CASES = [
    pytest.param(table, kind, id=f"{table}-{kind}")
    for table in sorted(audit_tables())
    for kind in ATTEMPTS
    if kind not in ALLOWED.get(table, set())
]


def _refusal(statement: str) -> str:
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    return str(refused.value)


@pytest.fixture
def sealed_log(record_events) -> None:
    record_events(3)
    assert checkpoint_create() is not None  # every audit table has rows to refuse changing


@pytest.mark.django_db
@pytest.mark.parametrize(("table", "kind"), CASES)
def test_the_application_role_cannot_change_or_unguard_the_log(sealed_log, table, kind):
    message = _refusal(ATTEMPTS[kind].format(table=table, pk=PRIMARY_KEYS[table]))

    assert "permission denied" in message or "must be owner" in message, message
    assert AuditEvent.objects.count() == 3


@pytest.mark.django_db
def test_the_chain_head_moves_only_forward_even_for_the_application(sealed_log):
    message = _refusal("UPDATE audit_auditchainhead SET seq = 1")

    assert "may only move forward" in message
    assert AuditChainHead.objects.get().seq == 3


@pytest.mark.django_db
def test_the_application_role_owns_nothing_and_cannot_become_the_owner():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, (SELECT count(*) FROM pg_class WHERE relowner = pg_roles.oid) "
            "FROM pg_roles WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, 0)
    owner = connections["owner"].settings_dict["USER"]
    assert connection.settings_dict["USER"] != owner
    for statement in (
        f'SET ROLE "{owner}"',
        # Replica mode switches every trigger off; only a superuser may choose it.
        "SET session_replication_role = replica",
        "CREATE TABLE planted (id int)",
    ):
        message = _refusal(statement)
        assert "permission denied" in message, (statement, message)


@AS_OWNER
def test_setup_roles_is_idempotent_and_grants_exactly_the_plan():
    app, auditor = connection.settings_dict["USER"], auditor_role()
    before = _grants(app, auditor)

    call_command("setup_roles", app_role=app, auditor_role=auditor, verbosity=0)
    call_command("setup_roles", app_role=app, auditor_role=auditor, verbosity=0)

    after = _grants(app, auditor)
    assert after == before
    assert after[(app, "audit_auditevent")] == {"INSERT", "SELECT"}
    assert after[(app, "audit_auditchainhead")] == {"INSERT", "SELECT", "UPDATE"}
    assert after[(app, "residents_resident")] == {"DELETE", "INSERT", "SELECT", "UPDATE"}
    assert {privileges for (role, _), privileges in after.items() if role == auditor} == {
        frozenset({"SELECT"})
    }
    assert {table for (role, table) in after if role == auditor} == audit_tables()


@AS_OWNER
def test_setup_roles_refuses_the_owner_as_the_application_role():
    owner = connections["owner"].settings_dict["USER"]
    with pytest.raises(CommandError, match="所有者のロールです"):
        call_command("setup_roles", app_role=owner, auditor_role=auditor_role())


@AS_OWNER
def test_setup_roles_refuses_a_role_that_could_grant_itself_the_owners_rights():
    role = f"{connection.settings_dict['NAME']}_createrole"[:63]
    with connections["owner"].cursor() as cursor:
        cursor.execute(f'DROP ROLE IF EXISTS "{role}"')
        cursor.execute(f'CREATE ROLE "{role}" LOGIN CREATEROLE')
    try:
        with pytest.raises(CommandError, match="NOCREATEROLE"):
            call_command("setup_roles", app_role=role, auditor_role=auditor_role())
    finally:
        with connections["owner"].cursor() as cursor:
            cursor.execute(f'DROP ROLE IF EXISTS "{role}"')


@AS_OWNER
def test_the_auditors_role_verifies_the_log_but_cannot_write_it(record_events, settings, tmp_path):
    record_events(5)
    assert checkpoint_create() is not None
    with psycopg.connect(_auditor_dsn()) as auditors:
        assert auditors.execute("SELECT count(*) FROM audit_auditevent").fetchone() == (5,)
        for statement in (
            "INSERT INTO audit_auditevent SELECT * FROM audit_auditevent LIMIT 1",
            "INSERT INTO audit_auditcheckpoint (tree_size) VALUES (99)",
            "SELECT count(*) FROM residents_resident",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), auditors.transaction():
                auditors.execute(statement)

    result = subprocess.run(
        [sys.executable, "manage.py", "audit_verify"],
        cwd=Path(__file__).resolve().parents[2],
        env=_env_for_auditor(settings, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 件" in result.stdout


def _grants(*roles: str) -> dict[tuple[str, str], frozenset[str]]:
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = ANY(%s) AND table_schema = 'public'",
            [list(roles)],
        )
        grants: dict[tuple[str, str], set[str]] = {}
        for grantee, table, privilege in cursor.fetchall():
            grants.setdefault((grantee, table), set()).add(privilege)
    return {key: frozenset(value) for key, value in grants.items()}


def _auditor_dsn() -> str:
    """The auditors' role on this run's test database."""
    parts = urlsplit(os.environ["DATABASE_AUDITOR_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def _env_for_auditor(settings, tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_OWNER_URL", "DATABASE_AUDITOR_URL"}
    }
    env.update(
        DATABASE_URL=_auditor_dsn(),
        KONBINI_VAR_DIR=str(settings.VAR_DIR),
        AUDIT_CHECKPOINT_DIR=str(settings.AUDIT_CHECKPOINT_DIR),
        AUDIT_VERIFY_STATE_DIR=str(tmp_path / "auditor-state"),
        SAGA_ENV="development",
    )
    return env


@pytest.mark.django_db
def test_the_deploy_checks_pass_as_the_application_role_and_know_the_owner_again():
    from audit.checks import application_role_is_not_the_owner, application_role_owns_nothing, one_role

    assert application_role_owns_nothing(None, databases=["default"]) == []
    assert application_role_is_not_the_owner(None) == []
    owner = connections["owner"].settings_dict
    assert not one_role(connection.settings_dict, owner)
    assert one_role({**connection.settings_dict, "USER": owner["USER"]}, owner)
