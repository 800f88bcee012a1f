from __future__ import annotations

from django.db import migrations, models

from cluster_app.nodes.inventory import GPU_FIELDS, GUIDE_NODES


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Node = apps.get_model("cluster_app", "Node")
    for fields in GUIDE_NODES:
        watched = {key: value for key, value in fields.items() if key in GPU_FIELDS}
        if watched:
            Node.objects.filter(name=fields["name"], in_exo_cluster=False).update(**watched)


class Migration(migrations.Migration):

    dependencies = [
        ('cluster_app', '0009_job_error_code'),
    ]

    operations = [
        migrations.AddField(
            model_name='node',
            name='gpu_probe_command',
            field=models.JSONField(blank=True, default=list, help_text='Argument list run without a shell on the node\'s worker that prints the GPU reading as JSON; blank: the worker\'s own Python runs "-m cluster_app.nodes.nvml --json"'),
        ),
        migrations.AddField(
            model_name='node',
            name='gpu_reading',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='node',
            name='monitor_gpus',
            field=models.BooleanField(default=False, help_text='Its worker reads its NVIDIA GPUs through NVML every poll (a node exo does not report, such as GAMMA)'),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
