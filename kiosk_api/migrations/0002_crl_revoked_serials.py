"""The revoked serials of a CRL move from one JSON list per snapshot to a row each under a unique
index: card authentication looks one serial up instead of loading the whole list."""

import django.db.models.deletion
from django.db import migrations, models


def copy_revoked_serials(apps, schema_editor):
    CrlSnapshot = apps.get_model("kiosk_api", "CrlSnapshot")
    CrlRevokedSerial = apps.get_model("kiosk_api", "CrlRevokedSerial")
    db = schema_editor.connection.alias
    for snapshot in CrlSnapshot.objects.using(db).all():
        serials = sorted(set(snapshot.revoked_serials))
        CrlRevokedSerial.objects.using(db).bulk_create(
            (CrlRevokedSerial(snapshot=snapshot, serial=serial) for serial in serials), batch_size=5000
        )
        snapshot.revoked_count = len(serials)
        snapshot.save(update_fields=["revoked_count"])


def copy_back(apps, schema_editor):
    CrlSnapshot = apps.get_model("kiosk_api", "CrlSnapshot")
    for snapshot in CrlSnapshot.objects.using(schema_editor.connection.alias).all():
        snapshot.revoked_serials = sorted(snapshot.revoked_serials_rows.values_list("serial", flat=True))
        snapshot.save(update_fields=["revoked_serials"])


class Migration(migrations.Migration):
    dependencies = [
        ("kiosk_api", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="crlsnapshot",
            name="revoked_count",
            field=models.PositiveIntegerField(default=0, verbose_name="失効件数"),
        ),
        migrations.CreateModel(
            name="CrlRevokedSerial",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("serial", models.CharField(max_length=64, verbose_name="シリアル番号")),
                (
                    "snapshot",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        # Named apart from the JSON field while both exist; renamed below.
                        related_name="revoked_serials_rows",
                        to="kiosk_api.crlsnapshot",
                    ),
                ),
            ],
            options={
                "verbose_name": "失効証明書",
                "verbose_name_plural": "失効証明書",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("snapshot", "serial"), name="kiosk_crl_revoked_serial_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(copy_revoked_serials, copy_back),
        migrations.RemoveField(model_name="crlsnapshot", name="revoked_serials"),
        migrations.AlterField(
            model_name="crlrevokedserial",
            name="snapshot",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="revoked_serials",
                to="kiosk_api.crlsnapshot",
            ),
        ),
    ]
