"""Pure rules for the live inventory: which exo node is which inventory node, each node's
status and reason, memory-history buckets, and the cluster totals. No I/O, no clock."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cluster_app.exo.state import RDMA, ClusterView, NodeView

GIB = 1024**3
SAFE_FRACTION = 0.70  # the guide's safe operation zone
LIMIT_FRACTION = 0.92  # the guide's utilisation limit (~700 GB of 768 GB)

# Memory history: fine buckets for the last hour, coarse ones for the last day.
HISTORY_TIERS: dict[str, tuple[int, int]] = {"10s": (10, 3600), "5m": (300, 86400)}


@dataclass(frozen=True)
class InventoryNode:
    name: str
    display_name: str
    hostname: str
    in_exo_cluster: bool
    expects_rdma: bool


@dataclass(frozen=True)
class NodeStatus:
    status: str  # online, degraded, offline, or unmonitored (not an exo node)
    reason: str


@lru_cache(maxsize=1024)  # the same few names, several times every poll
def _key(text: str) -> str:
    text = text.strip().lower().removesuffix(".local")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def match_nodes(views: Iterable[NodeView],
                inventory: Iterable[InventoryNode]) -> dict[str, NodeView]:
    """Inventory name -> exo node, matched by friendly name or host name, never by exo's id
    (exo makes a new one at every start). When exo lists a node under several ids (a restarted
    node's old id lingers until exo's timeout), the one exo heard from last wins: the live one.
    Unmatched exo nodes are left out."""
    by_key = _names_by_key(inventory)
    matched: dict[str, tuple[tuple[datetime, int], NodeView]] = {}
    for position, view in enumerate(views):
        name = by_key.get(_key(view.friendly_name))
        # exo lists a newer node after an older one, which decides when neither says when.
        freshness = (seen_at(view.last_seen), position)
        if name and (name not in matched or freshness > matched[name][0]):
            matched[name] = (freshness, view)
    return {name: view for name, (_, view) in matched.items()}


def unknown_nodes(views: Iterable[NodeView],
                  inventory: Iterable[InventoryNode]) -> list[NodeView]:
    """exo nodes that no inventory node answers to by name (a restarted node's lingering old id
    is not one: it still has the node's name)."""
    by_key = _names_by_key(inventory)
    return [view for view in views if _key(view.friendly_name) not in by_key]


def seen_at(last_seen: str | None) -> datetime:
    """exo's `lastSeen` time (ISO 8601), or the earliest time when it is missing or unreadable."""
    try:
        moment = datetime.fromisoformat(last_seen or "")
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _names_by_key(inventory: Iterable[InventoryNode]) -> dict[str, str]:
    by_key: dict[str, str] = {}
    for node in inventory:
        for label in (node.name, node.display_name, node.hostname):
            if label:
                by_key.setdefault(_key(label), node.name)
    return by_key


def node_status(
    node: InventoryNode,
    view: NodeView | None,
    cluster: ClusterView | None,
    *,
    last_seen: datetime | None,
    now: datetime,
    offline_after: timedelta,
) -> NodeStatus:
    """Online, degraded or offline, with the reason a person needs to act on it."""
    if not node.in_exo_cluster:
        return NodeStatus("unmonitored", "not part of the exo cluster")
    if cluster is None or view is None:
        why = "exo is not answering" if cluster is None else "not in exo's cluster state"
        if last_seen is not None and now - last_seen < offline_after:
            ago = int((now - last_seen).total_seconds())
            return NodeStatus("degraded", f"{why}; last seen {ago} s ago")
        return NodeStatus("offline", why)
    problems = []
    if node.expects_rdma and view.rdma_enabled is False:
        problems.append("RDMA is disabled (run `rdma_ctl enable` in Recovery)")
    if node.expects_rdma and view.rdma_enabled and len(cluster.nodes) > 1 and not any(
        link.kind == RDMA and view.node_id in (link.source, link.sink) for link in cluster.links
    ):
        problems.append("no RDMA link: tensor parallelism falls back to TCP")
    if view.ram_total and view.ram_used / view.ram_total >= LIMIT_FRACTION:
        problems.append(f"memory at {view.ram_used / view.ram_total:.0%}, over the 92% limit")
    failed = [runner.error or "runner failed" for instance in cluster.instances
              for runner in instance.runners if runner.node_id == view.node_id
              and runner.state == "Failed"]
    problems.extend(f"runner failed: {error}" for error in failed[:1])
    if problems:
        return NodeStatus("degraded", "; ".join(problems))
    return NodeStatus("online", "")


def bucket_start(moment: datetime, width_seconds: int) -> datetime:
    """The start of the `width_seconds` bucket holding `moment`."""
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % width_seconds, tz=moment.tzinfo)


def utilisation(used: int, total: int) -> dict[str, object]:
    """Cluster memory use against the guide's thresholds."""
    fraction = used / total if total else 0.0
    risk = "low" if fraction < SAFE_FRACTION else "medium" if fraction < LIMIT_FRACTION else "high"
    return {
        "used": used,
        "total": total,
        "fraction": round(fraction, 4),
        # Whole GB down, as the guide writes them: 537 GB and 706 GB of 768 GB.
        "safe_bytes": int(total * SAFE_FRACTION) // GIB * GIB,
        "limit_bytes": int(total * LIMIT_FRACTION) // GIB * GIB,
        "risk": risk,
    }
