"""The application's and the auditors' database roles (SPEC §6), granted by ``setup_roles``.

The owner of the tables runs migrations and this; the application connects as a role that owns
nothing. On the audit log it may add and read, never change or remove: no UPDATE, DELETE or
TRUNCATE (which the triggers refuse too), and, because it is not the owner, no ALTER TABLE, no
DISABLE TRIGGER, no DROP. The auditors' role only reads the audit log. Every run first revokes
everything from both roles, then grants the list below: running it twice, or after a migration
added tables, leaves exactly these rights. PostgreSQL only: SQLite has no roles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.utils.translation import gettext

from audit.models import AuditChainHead, AuditPending, AuditVerificationRun

READ = ("SELECT",)
APPEND = ("SELECT", "INSERT")
# Every table outside the audit log: the application keeps the mirror, issuances, sessions...
READ_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")

# Audit tables the application must change besides appending, each for a reason the triggers keep
# narrow: the chain head moves forward only (and is the sealer's lock: SELECT ... FOR UPDATE needs
# UPDATE), a pending row goes when its event is chained, a verification run records its progress.
AUDIT_APP_EXCEPTIONS: dict[str, tuple[str, ...]] = {
    AuditChainHead._meta.db_table: ("SELECT", "INSERT", "UPDATE"),
    AuditPending._meta.db_table: ("SELECT", "INSERT", "DELETE"),
    AuditVerificationRun._meta.db_table: ("SELECT", "INSERT", "UPDATE"),
}


class RoleSetupError(Exception):
    """The roles cannot be set up as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Grant:
    role: str
    table: str
    privileges: tuple[str, ...]


def audit_tables() -> set[str]:
    return {model._meta.db_table for model in apps.get_app_config("audit").get_models()}


def grants_plan(*, app_role: str, auditor_role: str, tables: Iterable[str]) -> list[Grant]:
    """Which role gets which privileges on which table: the whole of what the two roles may do."""
    audit = audit_tables()
    plan: list[Grant] = []
    for table in sorted(tables):
        if table in audit:
            plan.append(Grant(app_role, table, AUDIT_APP_EXCEPTIONS.get(table, APPEND)))
            plan.append(Grant(auditor_role, table, READ))
        else:
            plan.append(Grant(app_role, table, READ_WRITE))
    return plan


def owner_connection() -> BaseDatabaseWrapper:
    return connections[settings.OWNER_DB_ALIAS]


def roles_setup(*, app_role: str, auditor_role: str) -> list[Grant]:
    """Create the two roles if missing (LOGIN, no password: the operator sets one) and grant them
    exactly the plan, in one transaction on the owner's connection. Returns the plan applied."""
    connection = owner_connection()
    if connection.vendor != "postgresql":
        raise RoleSetupError(
            gettext("setup_roles には PostgreSQL が必要です(SQLite にはロールがありません)。")
        )
    if app_role == auditor_role:
        raise RoleSetupError(gettext("アプリケーションのロールと監査のロールは別のロールにしてください。"))
    qn = connection.ops.quote_name
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database()")
        owner, database = cursor.fetchone()
        for role in (app_role, auditor_role):
            _role_check_or_create(cursor, role=role, owner=owner, qn=qn)
        tables = connection.introspection.table_names(cursor)
        roles = f"{qn(app_role)}, {qn(auditor_role)}"
        cursor.execute(f"GRANT CONNECT ON DATABASE {qn(database)} TO {roles}")
        # The feed's upserts stage rows in a temporary table (sync/services.py).
        cursor.execute(f"GRANT TEMPORARY ON DATABASE {qn(database)} TO {qn(app_role)}")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {roles}")
        cursor.execute(f"REVOKE CREATE ON SCHEMA public FROM {roles}")
        cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {roles}")
        cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {roles}")
        plan = grants_plan(app_role=app_role, auditor_role=auditor_role, tables=tables)
        for grant in plan:
            cursor.execute(f"GRANT {', '.join(grant.privileges)} ON {qn(grant.table)} TO {qn(grant.role)}")
        # Ids and the certificate number sequence: nextval needs USAGE; never setval (UPDATE).
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {qn(app_role)}")
    return plan


def _role_check_or_create(cursor: CursorWrapper, *, role: str, owner: str, qn: Callable[[str], str]) -> None:
    if role == owner:
        raise RoleSetupError(
            gettext("%(role)s は所有者のロールです。別のロールを指定してください。") % {"role": role}
        )
    cursor.execute(
        "SELECT rolsuper, rolcreaterole, pg_has_role(%s, %s, 'MEMBER') FROM pg_roles WHERE rolname = %s",
        [role, owner, role],
    )
    row = cursor.fetchone()
    if row is None:
        cursor.execute(f"CREATE ROLE {qn(role)} LOGIN")
        return
    superuser, create_role, member_of_owner = row
    if create_role:
        # Up to PostgreSQL 15 a role with CREATEROLE may grant itself membership of the owner.
        raise RoleSetupError(
            gettext(
                "ロール %(role)s はロールを作成できます。ALTER ROLE %(role)s NOCREATEROLE; としてください。"
            )
            % {"role": role}
        )
    if superuser or member_of_owner:
        # Either would give it the owner's rights back: ALTER, DISABLE TRIGGER, DROP.
        raise RoleSetupError(
            gettext(
                "ロール %(role)s はスーパーユーザーか所有者 %(owner)s のメンバーです。"
                "どちらでもないロールにしてください(ALTER ROLE %(role)s NOSUPERUSER; "
                "REVOKE %(owner)s FROM %(role)s)。"
            )
            % {"role": role, "owner": owner}
        )
    cursor.execute(
        "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s) "
        "AND relnamespace = 'public'::regnamespace",
        [role],
    )
    (owned,) = cursor.fetchone()
    if owned:
        raise RoleSetupError(
            gettext(
                "ロール %(role)s はテーブルやシーケンスを %(count)s 個所有しています。先に所有者へ移し"
                "(REASSIGN OWNED BY %(role)s TO %(owner)s)、setup_roles をもう一度実行してください。"
            )
            % {"role": role, "owner": owner, "count": owned}
        )
