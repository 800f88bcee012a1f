"""The clock of the simulation: a background loop that moves nodes, runners and downloads on."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from . import downloads, runners, telemetry
from .cluster import Cluster


def tick(cluster: Cluster, now: float, elapsed: float, pending_drops: list[tuple[str, float]]
         ) -> None:
    """One step: scheduled drops, heartbeats, readings, timeouts, downloads, runner phases."""
    for name, after in list(pending_drops):
        node = cluster.node_by_name(name)
        if now - cluster.started >= after:
            pending_drops.remove((name, after))
            if node is not None and node.alive:
                cluster.drop_node(node)
    busy = {
        node_id
        for instance in cluster.instances.values()
        if instance.generating
        for node_id in instance.node_to_runner
    }
    for node in list(cluster.nodes):
        if node.alive:
            node.last_seen = datetime.now(UTC)
            telemetry.sample(node, node.node_id in busy)
        elif node.dropped_at is not None and now - node.dropped_at >= cluster.node_timeout:
            cluster.remove_node(node)
    downloads.advance(cluster, elapsed)
    runners.advance(cluster, now)


async def run(cluster: Cluster) -> None:
    pending_drops = list(cluster.config.drop_nodes)
    last = time.monotonic()
    while True:
        await asyncio.sleep(cluster.config.tick)
        now = time.monotonic()
        tick(cluster, now, now - last, pending_drops)
        last = now
