"""`/ws/logs/`: the recent lines of every node first, then live batches from the followers."""

from __future__ import annotations

from typing import Any

from cluster_app.jobs import events
from cluster_app.jobs.consumers import AuthenticatedConsumer
from cluster_app.logs.ring import followers, recent_lines
from cluster_app.models import Node

BACKLOG_LINES = 1000


class LogsConsumer(AuthenticatedConsumer):
    def group_name(self) -> str:
        return events.LOGS_GROUP

    def snapshot(self) -> dict[str, Any]:
        names = list(Node.objects.values_list("name", flat=True))
        return {"type": "logs.snapshot", "lines": recent_lines(names, limit=BACKLOG_LINES),
                "followers": followers(names)}

    async def logs_lines(self, event: dict[str, Any]) -> None:
        await self.relay(event, {"type": "logs.lines", "lines": event["lines"],
                                 "skipped": event["skipped"]})
