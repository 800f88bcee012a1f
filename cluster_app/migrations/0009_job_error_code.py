from __future__ import annotations

import re

from django.db import migrations, models

# Failed jobs logged their traceback (paths, source lines) as one log entry, which a cluster job
# relayed with its node's name in front: `[ALPHA] Traceback ...`.
TRACEBACK = re.compile(r"(?:\[[^\]\n]*\] )?Traceback \(most recent call last\):")


def remove_tracebacks(apps, schema_editor):  # type: ignore[no-untyped-def]
    Job = apps.get_model("cluster_app", "Job")
    for job in Job.objects.only("pk", "log_tail").iterator():
        kept = [line for line in job.log_tail
                if not (isinstance(line, str) and TRACEBACK.match(line))]
        if len(kept) != len(job.log_tail):
            Job.objects.filter(pk=job.pk).update(log_tail=kept)


class Migration(migrations.Migration):

    dependencies = [
        ('cluster_app', '0008_bootstrap_allow_list'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='error_code',
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.RunPython(remove_tracebacks, migrations.RunPython.noop),
    ]
