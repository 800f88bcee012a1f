"""``GET /state``: the simulated cluster rendered in exo's v1.0.64+ shape (camelCase)."""

from __future__ import annotations

from typing import Any

from .catalogue import GIB
from .cluster import Cluster, Node
from .downloads import render as render_downloads
from .runners import all_statuses
from .topology import topology

SYSTEM_DISK_SHARE = 0.08  # macOS and apps on the models disk


def render(cluster: Cluster, now: float) -> dict[str, Any]:
    nodes = cluster.nodes
    return {
        "instances": {i.instance_id: i.tagged for i in cluster.instances.values()},
        "runners": all_statuses(cluster, now),
        "downloads": {
            n.node_id: render_downloads(n, cluster.downloads[n.name]) for n in nodes
        },
        "tasks": {},
        "lastSeen": {n.node_id: n.last_seen.isoformat() for n in nodes},
        "topology": topology(nodes),
        "lastEventAppliedIdx": cluster.event_idx,
        "nodeIdentities": {n.node_id: _identity(n) for n in nodes},
        "nodeMemory": {n.node_id: _memory(n) for n in nodes},
        "nodeDisk": {n.node_id: _disk(cluster, n) for n in nodes},
        "nodeSystem": {n.node_id: dict(n.system) for n in nodes},
        "nodeNetwork": {n.node_id: _network(n) for n in nodes},
        "nodeThunderbolt": {n.node_id: _thunderbolt(n) for n in nodes},
        # RDMA wants the Thunderbolt Bridge service off, which is how the cluster is set up.
        "nodeThunderboltBridge": {
            n.node_id: {"enabled": False, "exists": True, "serviceName": "Thunderbolt Bridge"}
            for n in nodes
        },
        "nodeRdmaCtl": {n.node_id: {"enabled": n.spec.rdma_enabled} for n in nodes},
        "thunderboltBridgeCycles": [],
    }


def walk(state: dict[str, Any], parts: list[str]) -> Any:
    """Follow keys (and list indexes) into the state; KeyError if the path is not there."""
    value: Any = state
    for part in parts:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(".".join(parts))
    return value


def _identity(node: Node) -> dict[str, Any]:
    return {
        "modelId": node.spec.model,
        "chipId": node.spec.chip,
        "friendlyName": node.name,
        "osVersion": "26.2",
        "osBuildVersion": "25C56",
    }


def _memory(node: Node) -> dict[str, Any]:
    return {
        "ramTotal": {"inBytes": node.ram_total},
        "ramAvailable": {"inBytes": node.ram_available},
        "swapTotal": {"inBytes": 0},
        "swapAvailable": {"inBytes": 0},
    }


def _disk(cluster: Cluster, node: Node) -> dict[str, Any]:
    total = round(node.spec.disk_gib * GIB)
    models = sum(d.downloaded for d in cluster.downloads[node.name].values())
    return {
        "total": {"inBytes": total},
        "available": {"inBytes": max(0, total - round(total * SYSTEM_DISK_SHARE) - models)},
    }


def _network(node: Node) -> dict[str, Any]:
    octet = node.spec.ip.rsplit(".", 1)[-1]
    return {
        "interfaces": [
            {"name": "en0", "ipAddress": node.spec.ip, "interfaceType": "ethernet"},
            {"name": node.spec.rdma_iface.removeprefix("rdma_"),
             "ipAddress": f"169.254.0.{octet}", "interfaceType": "thunderbolt"},
            {"name": "lo0", "ipAddress": "127.0.0.1", "interfaceType": "unknown"},
        ]
    }


def _thunderbolt(node: Node) -> dict[str, Any]:
    return {
        "interfaces": [
            {
                "rdmaInterface": node.spec.rdma_iface,
                "domainUuid": node.spec.thunderbolt_domain,
                "linkSpeed": "80 Gb/s",
            }
        ]
    }
