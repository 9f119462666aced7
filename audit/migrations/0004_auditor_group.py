"""The auditors' group (SPEC §9): only its members may open /audit/."""

from django.db import migrations

AUDITOR_GROUP = "監査"


def create_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).get_or_create(name=AUDITOR_GROUP)


def remove_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=AUDITOR_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only_triggers"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_group, remove_group)]
