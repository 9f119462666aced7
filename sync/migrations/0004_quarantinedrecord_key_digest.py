from typing import Any

from django.db import migrations, models


def redact_stored_records(apps: Any, schema_editor: Any) -> None:
    """Records quarantined before this migration were redacted by narrower rules (fewer separators
    and field names) and kept their key and reason as received: a My Number left in any of them is
    taken out now, as for every new one, and counted on top of those removed before."""
    from sync.redaction import my_numbers_redact, my_numbers_redact_text
    from sync.services.quarantine import quarantine_key_digest

    QuarantinedRecord = apps.get_model("sync", "QuarantinedRecord")
    fields = ("pk", "entity", "key", "reason", "record", "my_numbers_removed")
    records = QuarantinedRecord.objects.using(schema_editor.connection.alias)
    for row in records.only(*fields).iterator():
        record, in_record = my_numbers_redact(row.record) if row.record is not None else (None, 0)
        key, in_key = my_numbers_redact_text(row.key)
        reason, in_reason = my_numbers_redact_text(row.reason)
        if in_record or in_key or in_reason:
            records.filter(pk=row.pk).update(
                record=record,
                key=key,
                reason=reason,
                my_numbers_removed=row.my_numbers_removed + in_record + in_key + in_reason,
                key_digest=quarantine_key_digest(row.entity, row.key) if in_key else "",
            )


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0003_quarantinedrecord_my_numbers_removed"),
    ]

    operations = [
        migrations.AddField(
            model_name="quarantinedrecord",
            name="key_digest",
            field=models.CharField(
                blank=True, default="", editable=False, max_length=64, verbose_name="キーの照合値"
            ),
        ),
        migrations.RunPython(redact_stored_records, migrations.RunPython.noop),
    ]
