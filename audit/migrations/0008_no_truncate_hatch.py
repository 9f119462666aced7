"""The append-only guard without the TRUNCATE hatch (``saga.audit_allow_truncate``).

Databases migrated before this still have the first version of ``audit_refuse_change``, which let a
session that set ``saga.audit_allow_truncate`` empty the log; the test runner used it. Tests now
empty the database as the owner with the triggers off, and the application connects as a role that
cannot set anything that relaxes a guard (SPEC §6), so the function refuses every change.
"""

from django.db import migrations

REFUSE = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def refuse_always(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFUSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_merkle_nodes")]

    # Backwards: nothing to restore (the hatch is not coming back).
    operations = [migrations.RunPython(refuse_always, migrations.RunPython.noop)]
