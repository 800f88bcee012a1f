from __future__ import annotations

from django.apps import AppConfig


class ClusterAppConfig(AppConfig):
    name = "cluster_app"
    verbose_name = "Cluster"

    def ready(self) -> None:
        # Built-in job kinds register themselves on import.
        from cluster_app import instances, ping  # noqa: F401
