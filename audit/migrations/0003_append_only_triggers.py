"""PostgreSQL refuses UPDATE, DELETE and TRUNCATE on the audit log (SPEC §6).

SQLite has no such triggers here; the models' guards (audit/models.py) refuse there instead.

There is no setting that relaxes them (migration 0008 took out the test runner's TRUNCATE hatch
that this one first had): the application connects as a role that owns none of these tables, so
it can neither disable the triggers nor drop them (SPEC §6, ``setup_roles``).
"""

from django.db import migrations

APPEND_ONLY_TABLES = (
    "audit_auditevent",
    "audit_auditeventresident",
    "audit_auditchainlink",
    "audit_auditcheckpoint",
)

FUNCTIONS = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq < OLD.seq OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'audit chain head may only move forward (% -> %)', OLD.seq, NEW.seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
"""


def _forward_sql() -> str:
    statements = [FUNCTIONS]
    for table in APPEND_ONLY_TABLES:
        statements.append(
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
        )
        statements.append(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();"
        )
    # The head row is the sealer's lock and cursor: it moves forward, it is never removed.
    statements.append(
        "CREATE TRIGGER audit_auditchainhead_no_delete BEFORE DELETE ON audit_auditchainhead "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
    )
    statements.append(
        "CREATE TRIGGER audit_auditchainhead_no_truncate BEFORE TRUNCATE ON audit_auditchainhead "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();"
    )
    statements.append(
        "CREATE TRIGGER audit_auditchainhead_forward BEFORE UPDATE ON audit_auditchainhead "
        "FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();"
    )
    return "\n".join(statements)


def _reverse_sql() -> str:
    statements = []
    for table in APPEND_ONLY_TABLES:
        statements.append(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table};")
        statements.append(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
    for name in ("no_delete", "no_truncate", "forward"):
        statements.append(f"DROP TRIGGER IF EXISTS audit_auditchainhead_{name} ON audit_auditchainhead;")
    statements.append("DROP FUNCTION IF EXISTS audit_refuse_change();")
    statements.append("DROP FUNCTION IF EXISTS audit_head_forward_only();")
    return "\n".join(statements)


def install_triggers(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema_editor.execute(_forward_sql(), params=None)


def remove_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(_reverse_sql(), params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain_and_checkpoints")]

    operations = [migrations.RunPython(install_triggers, remove_triggers)]
