from __future__ import annotations

from django.apps import AppConfig

from arthur_panel.version import panel_version


class ClusterAppConfig(AppConfig):
    name = "cluster_app"
    verbose_name = "Cluster"


    def ready(self) -> None:
        # Here, not at import: the receivers name the user model, which needs the app registry.
        from cluster_app.alerts.events import ALERTS_GROUP, alerts_frame  # noqa: PLC0415
        from cluster_app.audit import signals  # noqa: F401, PLC0415
        from cluster_app.jobs import revocation  # noqa: F401, PLC0415
        from cluster_app.jobs.feeds import register_feed  # noqa: PLC0415

        # The bell on every page rides on the page's jobs socket.
        register_feed(ALERTS_GROUP, alerts_frame)

        # Read when the process starts: an upgrade's `git pull` must not change what a process
        # still running the old code says it runs.
        panel_version()
