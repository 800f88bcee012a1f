from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations


def seed_operator_group(apps, schema_editor):  # type: ignore[no-untyped-def]
    # Permissions are normally created after the last migration: make this one now.
    config = apps.get_app_config("cluster_app")
    config.models_module = config.models_module or True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="operator")
    group.permissions.add(Permission.objects.get(content_type__app_label="cluster_app",
                                                 codename="operate_exo"))


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
