from __future__ import annotations

from django.db import migrations

from cluster_app.nodes.inventory import EXO_FIELDS, GUIDE_NODES


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Node = apps.get_model("cluster_app", "Node")
    for fields in GUIDE_NODES:
        exo = {key: value for key, value in fields.items() if key in EXO_FIELDS}
        Node.objects.filter(name=fields["name"]).update(**exo)


class Migration(migrations.Migration):
    dependencies = [("cluster_app", "0005_exo_operations_health_linkbench")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
