"""Shared fixtures. Tests run against whatever DATABASE_URL / REDIS_URL say: CI uses PostgreSQL and Redis."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator

import pytest
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


@pytest.fixture(autouse=True)
def _site_language_afterwards() -> Iterator[None]:
    """Django's LocaleMiddleware leaves the last request's language active in the test's thread: a test
    that asked for English (or a kiosk language) must not make the next one run in it."""
    yield
    translation.deactivate()
