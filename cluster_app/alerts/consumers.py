"""`/ws/alerts/`: the alert counts and active alerts first, then each change (the bell)."""

from __future__ import annotations

from typing import Any

from cluster_app.alerts.events import ALERTS_GROUP, alerts_summary
from cluster_app.jobs.consumers import AuthenticatedConsumer


class AlertsConsumer(AuthenticatedConsumer):
    def group_name(self) -> str:
        return ALERTS_GROUP

    def snapshot(self) -> dict[str, Any]:
        return {"type": "alerts", **alerts_summary()}

    async def alerts_update(self, event: dict[str, Any]) -> None:
        await self.relay(event, {**event, "type": "alerts"})
