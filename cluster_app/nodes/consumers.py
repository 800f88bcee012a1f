"""`/ws/cluster/`: the latest poll with the memory history first, then every new poll and
every node's network reading."""

from __future__ import annotations

from typing import Any

from cluster_app.jobs import events
from cluster_app.jobs.consumers import AuthenticatedConsumer
from cluster_app.nodes.poll import cluster_snapshot, with_history


class ClusterConsumer(AuthenticatedConsumer):
    def group_name(self) -> str:
        return events.CLUSTER_GROUP

    def snapshot(self) -> dict[str, Any]:
        snapshot = cluster_snapshot()
        return {"type": "cluster", "cluster": with_history(snapshot) if snapshot else None}

    async def cluster_update(self, event: dict[str, Any]) -> None:
        await self.relay(event, {"type": "cluster", "cluster": event["cluster"]})

    async def node_network(self, event: dict[str, Any]) -> None:
        await self.relay(event, {"type": "network", "node": event["node"],
                                 "network": event["network"]})
