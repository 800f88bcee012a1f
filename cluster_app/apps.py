from __future__ import annotations

from django.apps import AppConfig


class ClusterAppConfig(AppConfig):
    name = "cluster_app"
    verbose_name = "Cluster"

    def ready(self) -> None:
        # Built-in job kinds register themselves on import.
        from cluster_app import health, instances, ping  # noqa: F401
        from cluster_app import cluster_ops, exo_jobs  # noqa: F401
        from cluster_app import linkbench_job  # noqa: F401
