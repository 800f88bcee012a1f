"""The clock of the simulation: a background loop that moves nodes, runners and downloads on."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import lifecycle, telemetry
from .cluster import Cluster


@dataclass
class Clock:
    """What the loop remembers between steps."""

    pending_drops: list[tuple[str, float]]
    last_rescan: float = field(default_factory=time.monotonic)


def tick(cluster: Cluster, now: float, elapsed: float, clock: Clock) -> None:
    """One step: scheduled drops, heartbeats, readings, timeouts, rescans, downloads, runners."""
    for name, after in list(clock.pending_drops):
        node = cluster.node_by_name(name)
        if now - cluster.started >= after:
            clock.pending_drops.remove((name, after))
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
    if now - clock.last_rescan >= cluster.rescan_interval:
        clock.last_rescan = now
        for node in cluster.live_nodes():
            cluster.downloads.scan(node)
    cluster.downloads.advance(elapsed)
    lifecycle.advance(cluster, now)


async def run(cluster: Cluster) -> None:
    clock = Clock(pending_drops=list(cluster.config.drop_nodes))
    last = time.monotonic()
    while True:
        await asyncio.sleep(cluster.config.tick)
        now = time.monotonic()
        tick(cluster, now, now - last, clock)
        last = now
