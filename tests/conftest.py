"""Shared fixtures. Tests run against whatever DATABASE_URL / REDIS_URL say: CI uses PostgreSQL and Redis."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connections
from django.test import TransactionTestCase
from django.utils import translation


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With KONBINI_FAIL_ON_SKIP=1 (CI), a skipped test fails the run: nothing may be skipped in CI."""
    if os.environ.get("KONBINI_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        if reporter:
            reporter.write_line(
                f"KONBINI_FAIL_ON_SKIP: {len(skipped)} test(s) were skipped; CI runs everything."
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _isolated_var_dirs(settings, tmp_path):
    """Each test gets its own inbox and scratch folders, never the developer's var/."""
    settings.SYNC_INBOX_DIR = tmp_path / "inbox"
    settings.SYNC_INBOX_DIR.mkdir()
    # Signed audit checkpoints are files too: one test's must not be found by another's audit_verify.
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    settings.AUDIT_VERIFY_STATE_DIR = tmp_path / "audit-verify"
    settings.KONBINI_SERVICE_HOURS = "00:00-24:00"
    return settings


@pytest.fixture(autouse=True)
def _own_cache_keys(settings) -> None:
    """Rate-limit counters and the maintenance cache live in the shared cache (Redis in CI): each
    test gets its own key prefix, so that no test has to flush a database other tests are using."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


def auditor_role() -> str:
    """The auditors' read-only role of this run (tests/isolation.py names it)."""
    return urlsplit(os.environ["DATABASE_AUDITOR_URL"]).username or ""


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """The test database as production has it: created and migrated by the owner, then
    ``setup_roles``; the tests' ``default`` connection is the application's role (SPEC §6)."""
    from django.test.utils import setup_databases, teardown_databases

    owner, verbosity = django_settings.OWNER_DB_ALIAS, request.config.option.verbose
    creator = owner if connections["default"].vendor == "postgresql" else "default"
    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=verbosity, interactive=False, aliases={creator: None}, serialized_aliases=set()
        )
        created = connections[creator].settings_dict
        for alias in connections:
            if alias != creator:
                connections[alias].creation.set_as_test_mirror(created)
        if creator == owner:
            call_command(
                "setup_roles",
                app_role=connections["default"].settings_dict["USER"],
                auditor_role=auditor_role(),
                verbosity=0,
            )
    yield
    with django_db_blocker.unblock():
        for alias in connections:
            connections[alias].close()
        teardown_databases(config, verbosity=verbosity)


def _flush_as_owner(self: TransactionTestCase) -> None:
    """Empty the database after a transactional test as the owner, with the audit log's triggers
    off for that one transaction: the application's role may not TRUNCATE the log (nor anything
    else), and no setting lets it. A connection of its own, which Django's guard against a test
    using an alias it did not declare leaves alone; then, as Django's flush does, post_migrate
    (content types, permissions) through the application's connection."""
    from django.core.management.color import no_style
    from django.core.management.sql import emit_post_migrate_signal

    from audit.database_roles import audit_tables

    if connections["default"].vendor != "postgresql":
        _django_fixture_teardown(self)
        return
    flusher = connections.create_connection(django_settings.OWNER_DB_ALIAS)
    flusher.alias = "owner-flush"
    try:
        tables = flusher.introspection.django_table_names(only_existing=True, include_views=False)
        statements = flusher.ops.sql_flush(no_style(), tables, allow_cascade=self.available_apps is not None)
        flusher.set_autocommit(False)
        with flusher.cursor() as cursor:
            for table in sorted(audit_tables()):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            for statement in statements:
                cursor.execute(statement)
            for table in sorted(audit_tables()):
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        flusher.commit()
    finally:
        flusher.close()
    if self.available_apps is None:
        emit_post_migrate_signal(verbosity=0, interactive=False, db="default")


# Django's own (django-stubs does not describe this private method, hence getattr/setattr).
_django_fixture_teardown = getattr(TransactionTestCase, "_fixture_teardown")  # noqa: B009


@pytest.fixture(scope="session", autouse=True)
def _transactional_tests_flushed_as_owner() -> Iterator[None]:
    setattr(TransactionTestCase, "_fixture_teardown", _flush_as_owner)  # noqa: B010
    yield
    setattr(TransactionTestCase, "_fixture_teardown", _django_fixture_teardown)  # noqa: B010


@pytest.fixture(autouse=True)
def _site_language_afterwards() -> Iterator[None]:
    """Django's LocaleMiddleware leaves the last request's language active in the test's thread: a test
    that asked for English (or a kiosk language) must not make the next one run in it."""
    yield
    translation.deactivate()
