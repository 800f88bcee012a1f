"""The network poll: beat asks each node's worker, on its control queue, every
CLUSTER_POLL_SECONDS; the worker reads its interfaces' byte counters (psutil), turns the change
since its last reading into bytes per second, writes them to the node's row and history, and
pushes them to `/ws/cluster/` so a node page shows them live (during a chat stream, say)."""

from __future__ import annotations

import socket
import time
from typing import Any

import psutil
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from arthur_panel.celery import app as celery_app
from arthur_panel.redis_client import unless_under_way
from cluster_app.jobs import events
from cluster_app.models import Node
from cluster_app.nodes.netrates import Counters, Rates, rates
from cluster_app.nodes.perf_history import record_series
from cluster_app.nodes.series import network_series

# Sent by name: the tasks module imports this one, not the other way round.
READ_TASK = "cluster_app.tasks.net_read_task"
# Long enough to outlast a few missed polls; a reading older than that starts afresh.
COUNTERS_TTL = 300
# The most one reading can take, should its process die holding the node's lock.
READING_SECONDS = 30


def read_counters() -> tuple[float, Counters]:
    """This machine's monotonic clock, and the bytes received and sent per interface since
    boot."""
    counters = psutil.net_io_counters(pernic=True)
    return time.monotonic(), {name: (c.bytes_recv, c.bytes_sent) for name, c in counters.items()}


def _counters_key(node_name: str) -> str:
    # Per host too: the counters and the monotonic clock are that machine's own.
    return f"net-counters:{node_name}:{socket.gethostname()}"


def net_read(*, node_name: str) -> dict[str, Any] | None:
    """One reading on the node's own worker; returns what it wrote to the node's row (None for
    an unknown node, on the first reading, which has nothing to compare with, and for a reading
    that finds another of the node's under way)."""
    node = Node.objects.only("pk", "name", "network_interfaces").filter(name=node_name).first()
    if node is None:
        return None
    # One at a time per node. The worker's threads run polls that queued up during a stall
    # side by side; two readings taken so pair their counters out of order, and a counter that
    # seems to go down reads as a reset: a spike of every byte since boot (hundreds of GB/s).
    key = _counters_key(node.name)
    return unless_under_way(f"arthur:{key}:lock", READING_SECONDS, lambda: _read(node, key))


def _read(node: Node, key: str) -> dict[str, Any] | None:
    moment, current = read_counters()
    previous = cache.get(key)
    # Prefork children share no memory: the last reading lives in the cache.
    cache.set(key, {"at": moment, "counters": current}, timeout=COUNTERS_TTL)
    if previous is None:
        return None
    found = rates({name: tuple(pair) for name, pair in previous["counters"].items()}, current,
                  moment - previous["at"], list(node.network_interfaces))
    # Whole bytes per second, the same on the row, in the history and live.
    found = Rates({name: (round(rx), round(tx)) for name, (rx, tx) in found.interfaces.items()},
                  found.missing)
    now = timezone.now()
    network = {"at": now.isoformat(), "missing": found.missing,
               "interfaces": {name: {"rx": rx, "tx": tx}
                              for name, (rx, tx) in sorted(found.interfaces.items())}}
    Node.objects.filter(pk=node.pk).update(network=network)
    record_series([(node, network_series(found))], now)
    events.publish([events.CLUSTER_GROUP],
                   {"type": "node.network", "node": node.name, "network": network})
    return network


def net_fanout() -> None:
    """Ask every node's worker for a network reading."""
    for node in Node.objects.only("name"):
        # A node whose worker is down must not collect a backlog of readings.
        celery_app.send_task(READ_TASK, args=[node.name], queue=node.control_queue,
                             expires=settings.CLUSTER_POLL_SECONDS)
