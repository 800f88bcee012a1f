from __future__ import annotations

from django.db import migrations, models

import cluster_app.models


class Migration(migrations.Migration):

    dependencies = [
        ('cluster_app', '0010_gpu_monitoring'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='node',
            options={'ordering': ['-in_exo_cluster', '-ram_bytes', 'name'], 'permissions': [('operate_exo', 'Can start, stop and restart exo on the nodes'), ('run_jobs', 'Can run and control jobs and edit the catalogue'), ('administer', "Can change node settings, other users' keys and users")]},
        ),
        migrations.AddField(
            model_name='apitoken',
            name='allowed_models',
            field=models.JSONField(blank=True, default=list, help_text='exo model ids a chat key may use; empty: every model'),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='last_used_from',
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='note',
            field=models.TextField(blank=True, max_length=2000),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='revoked_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='scopes',
            field=models.JSONField(default=cluster_app.models._all_scopes, help_text='Any of chat, read, operate, admin', validators=[cluster_app.models._scope_list]),
        ),
    ]
