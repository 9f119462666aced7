"""Stored Merkle subtree hashes for RFC 6962 consistency proofs; append-only like the log itself."""

from django.db import migrations, models

TABLE = "audit_auditmerklenode"


def install_triggers(apps, schema_editor):
    # The same guard as the other audit tables (audit_refuse_change, created by migration 0003).
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
        f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();",
        params=None,
    )


def remove_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE};"
        f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE};",
        params=None,
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_auditverificationrun")]

    operations = [
        migrations.CreateModel(
            name="AuditMerkleNode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("level", models.PositiveSmallIntegerField(verbose_name="高さ")),
                ("index", models.BigIntegerField(verbose_name="位置")),
                ("hash", models.CharField(max_length=64, verbose_name="ハッシュ")),
            ],
            options={
                "verbose_name": "Merkle部分木",
                "verbose_name_plural": "Merkle部分木",
                "constraints": [
                    models.UniqueConstraint(fields=("level", "index"), name="audit_merkle_node_unique")
                ],
            },
        ),
        migrations.RunPython(install_triggers, remove_triggers),
    ]
