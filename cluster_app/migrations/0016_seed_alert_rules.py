from __future__ import annotations

from django.db import migrations

# A copy, not an import: a migration must keep meaning what it meant when it was written.
# key: (name, severity, threshold, for seconds, description)
RULES = {
    "node_offline": ("Node offline", "critical", None, 0,
                     "An exo node silent over NODE_OFFLINE_SECONDS (threshold: other seconds)."),
    "worker_silent": ("Node worker silent", "warning", None, 30,
                      "A node's Celery worker has not beaten within WORKER_OFFLINE_SECONDS."),
    "memory_warning": ("Memory over the safe zone", "warning", 0.70, 60,
                       "A node's memory in use at or over the threshold (fraction; the guide's "
                       "safe zone is under 0.70)."),
    "memory_critical": ("Memory over the guide's limit", "critical", 0.92, 0,
                        "A node's memory in use at or over the threshold (fraction; the "
                        "guide's limit is 0.92)."),
    "swap_in_use": ("Swap in use", "warning", 0.0, 300,
                    "A node's swap in use over the threshold (GiB; 0: any)."),
    "rdma_tcp_only": ("RDMA expected, link is TCP only", "critical", None, 0,
                      "Two live nodes that both expect RDMA are linked by TCP only."),
    "jaccl_errors": ("JACCL errors in the logs", "critical", 600.0, 0,
                     "A JACCL error line in a node's logs within the threshold (seconds)."),
    "runner_failed": ("Runner failed", "critical", None, 0,
                      "An exo runner in the Failed state."),
    "model_load_failed": ("Model load failed", "warning", 3600.0, 0,
                          "The newest load of a model failed within the threshold (seconds)."),
    "download_failed": ("Download failed", "warning", 3600.0, 0,
                        "The newest download of a model to a node failed within the threshold "
                        "(seconds)."),
    "health_failing": ("Health check failing", "warning", None, 60,
                       "A health check's latest verdict is fail."),
    "disk_low": ("Disk below the largest model", "warning", 1.0, 0,
                 "A node's free disk below the catalogue's largest model (times the "
                 "threshold)."),
    "exo_unreachable": ("exo unreachable", "critical", None, 10,
                        "exo's API does not answer the poll."),
}


def seed_rules(apps, schema_editor):  # type: ignore[no-untyped-def]
    AlertRule = apps.get_model("cluster_app", "AlertRule")
    for key, (name, severity, threshold, for_seconds, description) in RULES.items():
        AlertRule.objects.get_or_create(key=key, defaults={
            "name": name, "severity": severity, "threshold": threshold,
            "for_seconds": for_seconds, "description": description})


class Migration(migrations.Migration):
    dependencies = [("cluster_app", "0015_alerts")]
    operations = [migrations.RunPython(seed_rules, migrations.RunPython.noop)]
