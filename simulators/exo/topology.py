"""Links between nodes: every pair talks TCP over the LAN, and RDMA over Thunderbolt where both
ends allow it."""

from __future__ import annotations

from typing import Any

from .cluster import Node

EXO_LIBP2P_PORT = 52415


def rdma_linked(a: Node, b: Node) -> bool:
    # exo only reports an RDMA edge when rdma_ctl is enabled on both ends.
    return a.spec.rdma_enabled and b.spec.rdma_enabled


def tcp_edge(sink: Node) -> dict[str, Any]:
    return {
        "sinkMultiaddr": {
            "address": f"/ip4/{sink.spec.ip}/tcp/{EXO_LIBP2P_PORT}",
            "address_type": "ip4",
            "ip_address": sink.spec.ip,
            "port": EXO_LIBP2P_PORT,
        }
    }


def rdma_edge(source: Node, sink: Node) -> dict[str, Any]:
    return {"sourceRdmaIface": source.spec.rdma_iface, "sinkRdmaIface": sink.spec.rdma_iface}


def topology(nodes: list[Node]) -> dict[str, Any]:
    """``{"nodes": [ids], "connections": {src: {sink: [edges]}}}`` over the given nodes."""
    connections: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for source in nodes:
        for sink in nodes:
            # A stopped node keeps its place until the timeout but loses its links at once.
            if sink is source or not (source.alive and sink.alive):
                continue
            edges = [tcp_edge(sink)]
            if rdma_linked(source, sink):
                edges.append(rdma_edge(source, sink))
            connections.setdefault(source.node_id, {})[sink.node_id] = edges
    return {"nodes": [node.node_id for node in nodes], "connections": connections}
