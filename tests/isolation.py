"""A pytest plugin loaded before pytest-django reads the settings (``-p tests.isolation``).

Tests never write into the developer's var/ (demo database, keys, inbox): everything that settings
places under KONBINI_VAR_DIR (signing keys, the test CA, checkpoints, generated secrets) goes to a
fresh folder for each test run.
"""

import os
import tempfile

os.environ.setdefault("KONBINI_VAR_DIR", tempfile.mkdtemp(prefix="konbini-tests-"))


def _as_role(url: str, role: str) -> str:
    """``url`` with ``role`` as its user and no password (the test cluster trusts local roles)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{role}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _database_roles() -> None:
    """The suite runs as the application's role, as production does (SPEC §6); the owner's URL
    creates, migrates and empties the test database. Given only DATABASE_URL (a superuser's), it
    is taken as the owner's and the application's and auditors' roles are named after the
    database, ``<name>_app`` and ``<name>_auditor``: the roles are cluster-wide, the database name
    keeps two runs on one cluster apart. ``setup_roles`` creates them (tests/conftest.py)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    from urllib.parse import urlsplit

    name = urlsplit(url).path.lstrip("/")
    if "DATABASE_OWNER_URL" not in os.environ:
        os.environ["DATABASE_OWNER_URL"] = url
        os.environ["DATABASE_URL"] = _as_role(url, f"{name}_app")
    os.environ.setdefault("DATABASE_AUDITOR_URL", _as_role(url, f"{name}_auditor"))


_database_roles()
