from __future__ import annotations

from django.db import migrations

from cluster_app.nodes.inventory import EXO_FIELDS, GPU_FIELDS, GUIDE_NODES


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Node = apps.get_model("cluster_app", "Node")
    for fields in GUIDE_NODES:
        first = {key: value for key, value in fields.items() if key not in (*EXO_FIELDS, *GPU_FIELDS)}
        Node.objects.get_or_create(name=fields["name"], defaults=first)


def unseed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Node = apps.get_model("cluster_app", "Node")
    Node.objects.filter(name__in=[fields["name"] for fields in GUIDE_NODES]).delete()


class Migration(migrations.Migration):
    dependencies = [("cluster_app", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
