"""``GET /state``: the simulated cluster rendered as exo's State (camelCase), for the version
being spoken."""

from __future__ import annotations

from typing import Any

from . import lifecycle
from .catalogue import GIB
from .cluster import Cluster, Node
from .topology import addresses, topology

SYSTEM_DISK_SHARE = 0.08  # macOS and apps on the models disk
MAC_BACKENDS = ["MlxCpu", "MlxMetal"]  # what exo's worker finds on a Mac without CUDA


def render(cluster: Cluster) -> dict[str, Any]:
    nodes = cluster.nodes
    state: dict[str, Any] = {
        "instances": {i.instance_id: i.tagged for i in cluster.instances.values()},
        "runners": lifecycle.render(cluster),
        "downloads": {n.node_id: cluster.downloads.render(n) for n in nodes},
        # exo's worker tasks come and go within a tick; the simulator does not list them.
        "tasks": {},
        "lastSeen": {n.node_id: n.last_seen.isoformat().replace("+00:00", "Z") for n in nodes},
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
    }
    if cluster.wire.main:
        state["nodeBackends"] = {n.node_id: list(MAC_BACKENDS) for n in nodes}
    state["thunderboltBridgeCycles"] = []
    if cluster.wire.main:
        state["instanceLinks"] = {}
        state["prefillServerPorts"] = {}
        state["customModelCards"] = {
            model_id: cluster.wire.card(cluster.cards[model_id])
            for model_id in sorted(cluster.shared_cards) if model_id in cluster.cards
        }
    return state


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
        "friendlyName": node.spec.display_name,
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
    models = cluster.disks.used_bytes(node)
    return {
        "total": {"inBytes": total},
        "available": {"inBytes": max(0, total - round(total * SYSTEM_DISK_SHARE) - models)},
    }


def _network(node: Node) -> dict[str, Any]:
    return {"interfaces": [{"name": name, "ipAddress": ip, "interfaceType": kind}
                           for name, ip, kind in addresses(node)]}


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
