from typing import Any

from django.db import migrations, models


def redact_stored_records(apps: Any, schema_editor: Any) -> None:
    """Records quarantined before this migration had only ``data.my_number`` dropped: a My Number
    anywhere else in them is taken out now, as for every new one."""
    from sync.redaction import my_numbers_redact

    QuarantinedRecord = apps.get_model("sync", "QuarantinedRecord")
    records = QuarantinedRecord.objects.using(schema_editor.connection.alias)
    for row in records.exclude(record=None).only("pk", "record").iterator():
        clean, removed = my_numbers_redact(row.record)
        if removed:
            records.filter(pk=row.pk).update(record=clean, my_numbers_removed=removed)


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0002_batch_run_sync_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="quarantinedrecord",
            name="my_numbers_removed",
            field=models.PositiveIntegerField(default=0, verbose_name="削除した個人番号の数"),
        ),
        migrations.RunPython(redact_stored_records, migrations.RunPython.noop),
    ]
