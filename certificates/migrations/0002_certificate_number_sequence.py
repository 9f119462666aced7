"""The certificate number sequence (see certificates/numbers.py).

On PostgreSQL a real SEQUENCE: ``nextval`` is atomic across every process and is never rolled
back, so a failed issuance leaves a gap and a number is never handed out twice. Other databases
(SQLite in the fresh-clone demo) use the CertificateNumberCounter row instead.
"""

from django.db import migrations


def create_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE SEQUENCE IF NOT EXISTS certificates_number_seq AS bigint START 1 NO CYCLE"
        )


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS certificates_number_seq")


class Migration(migrations.Migration):
    dependencies = [("certificates", "0001_initial")]

    operations = [migrations.RunPython(create_sequence, drop_sequence)]
