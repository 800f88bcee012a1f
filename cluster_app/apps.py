from __future__ import annotations

from django.apps import AppConfig


class ClusterAppConfig(AppConfig):
    name = "cluster_app"
    verbose_name = "Cluster"

