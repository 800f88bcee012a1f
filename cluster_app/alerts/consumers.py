"""`/ws/alerts/`, for scripts: the alert counts and active alerts first, then each change.
Pages get the same frames on their jobs socket (a feed)."""

from __future__ import annotations

from typing import Any

from cluster_app.alerts.events import ALERTS_GROUP, alerts_frame
from cluster_app.jobs.consumers import AuthenticatedConsumer


class AlertsConsumer(AuthenticatedConsumer):
    def group_name(self) -> str:
        return ALERTS_GROUP

    def snapshot(self) -> dict[str, Any]:
        return alerts_frame()
