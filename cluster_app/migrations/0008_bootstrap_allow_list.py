from __future__ import annotations

from django.db import migrations, models

# The unanchored default before this migration found a "bootstrap command:" anywhere in a line.
UNANCHORED = r"(?i)bootstrap command:\s*(?P<command>.+)"
ANCHORED = (r"(?i)(?:\[ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \| INFO +"
            r"\| [\w.:<>-]+ \] )?bootstrap command:\s*(?P<command>\S.*?)\s*")


def anchor_default_patterns(apps, schema_editor):  # type: ignore[no-untyped-def]
    Node = apps.get_model("cluster_app", "Node")
    Node.objects.filter(exo_bootstrap_pattern=UNANCHORED).update(
        exo_bootstrap_pattern=ANCHORED)


class Migration(migrations.Migration):

    dependencies = [
        ('cluster_app', '0007_operator_permission'),
    ]

    operations = [
        migrations.AddField(
            model_name='node',
            name='exo_join_programs',
            field=models.JSONField(blank=True, default=list, help_text='On a node that joins with the bootstrap command: the argument-list prefixes that command must start with to be run here, e.g. [["/opt/homebrew/bin/exo"]]; empty: never run it'),
        ),
        migrations.AlterField(
            model_name='node',
            name='exo_bootstrap_pattern',
            field=models.CharField(blank=True, default='(?i)(?:\\[ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)? \\| INFO +\\| [\\w.:<>-]+ \\] )?bootstrap command:\\s*(?P<command>\\S.*?)\\s*', help_text="On the master: a regular expression that must match a whole line of its start job's output, whose 'command' group captures the command other nodes join with", max_length=255),
        ),
        migrations.RunPython(anchor_default_patterns, migrations.RunPython.noop),
    ]
