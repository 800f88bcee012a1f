from __future__ import annotations

from django.db import migrations


def seed_operator_group(apps, schema_editor):  # type: ignore[no-untyped-def]
    # Permissions are normally created after the last migration: make this one now.
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    node_type, _ = ContentType.objects.get_or_create(app_label="cluster_app", model="node")
    permission, _ = Permission.objects.get_or_create(
        content_type=node_type, codename="operate_exo",
        defaults={"name": "Can start, stop and restart exo on the nodes"})
    group, _ = Group.objects.get_or_create(name="operator")
    group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("cluster_app", "0006_seed_exo_settings"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [
        migrations.AlterModelOptions(
            name="node",
            options={"ordering": ["-in_exo_cluster", "-ram_bytes", "name"],
                     "permissions": [("operate_exo",
                                      "Can start, stop and restart exo on the nodes")]},
        ),
        migrations.RunPython(seed_operator_group, migrations.RunPython.noop),
    ]
