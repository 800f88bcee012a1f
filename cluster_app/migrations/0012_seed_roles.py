from __future__ import annotations

from django.db import migrations

# A copy, not an import: a migration must keep meaning what it meant when it was written.
PERMISSIONS = {
    "operate_exo": "Can start, stop and restart exo on the nodes",
    "run_jobs": "Can run and control jobs and edit the catalogue",
    "administer": "Can change node settings, other users' keys and users",
}
ROLES = {
    "viewer": [],
    "operator": ["run_jobs", "operate_exo"],
    "admin": ["run_jobs", "operate_exo", "administer"],
}


def seed_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    # Permissions are normally created after the last migration: make these now.
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    node_type, _ = ContentType.objects.get_or_create(app_label="cluster_app", model="node")
    permissions = {
        codename: Permission.objects.get_or_create(
            content_type=node_type, codename=codename, defaults={"name": name})[0]
        for codename, name in PERMISSIONS.items()}
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*(permissions[codename] for codename in codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("cluster_app", "0011_api_key_scopes_and_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(seed_roles, migrations.RunPython.noop)]
