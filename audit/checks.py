"""Deploy checks: the application must not connect as the role that owns the tables (SPEC §6).

Whoever holds the owner's connection can disable the audit log's triggers or drop its tables; the
web and worker processes connect through DATABASE_URL as a role that owns nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import connections


def _owner_warning(detail: str) -> Warning:
    return Warning(
        f"DATABASE_URL connects as the owner of the tables ({detail}): the application could "
        "rewrite the audit log.",
        hint="Run migrate and setup_roles through DATABASE_OWNER_URL and give DATABASE_URL the "
        "application's role (README, Database roles).",
        id="audit.W001",
    )


def one_role(default: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """Whether two connection settings reach the same database as the same role."""
    return bool(default.get("USER")) and all(
        default.get(key) == owner.get(key) for key in ("USER", "HOST", "PORT", "NAME")
    )


@register(Tags.security, deploy=True)
def application_role_is_not_the_owner(app_configs: Any, **kwargs: Any) -> list[Warning]:
    # Configuration only: both URLs set, naming the same role.
    default, owner = settings.DATABASES["default"], settings.DATABASES[settings.OWNER_DB_ALIAS]
    if default["ENGINE"] != "django.db.backends.postgresql" or not settings.DATABASE_OWNER_SEPARATE:
        return []
    if one_role(default, owner):
        return [_owner_warning("DATABASE_OWNER_URL names the same role")]
    return []


@register(Tags.database, deploy=True)
def application_role_owns_nothing(app_configs: Any, databases: Any = None, **kwargs: Any) -> list[Warning]:
    # Asks the database itself (`check --deploy --database default`): a web process need not know
    # the owner's URL, and must not hold it.
    if not databases or "default" not in databases:
        return []
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, (SELECT count(*) FROM pg_class WHERE relowner = pg_roles.oid "
            "AND relnamespace = 'public'::regnamespace) FROM pg_roles WHERE rolname = current_user"
        )
        superuser, owned = cursor.fetchone()
    if superuser:
        return [_owner_warning("a superuser")]
    if owned:
        return [_owner_warning(f"it owns {owned} tables or sequences")]
    return []
