"""Links between nodes, as exo finds them: one TCP edge for every address of the peer that
answers exo's reachability probe (IPv4 and IPv6 on the LAN, the Thunderbolt link), and an RDMA
edge over Thunderbolt where both ends have rdma_ctl enabled."""

from __future__ import annotations

from typing import Any

from .cluster import Node

EXO_API_PORT = 52415  # exo probes its peers' API port, and names edges by it


def addresses(node: Node) -> list[tuple[str, str, str]]:
    """(interface, address, exo's interface type) as the node reports them."""
    octet = node.spec.ip.rsplit(".", 1)[-1]
    return [
        ("en0", node.spec.ip, "ethernet"),
        ("en0", node.spec.ipv6, "ethernet"),
        (node.spec.rdma_iface.removeprefix("rdma_"), f"169.254.0.{octet}", "thunderbolt"),
        ("lo0", "127.0.0.1", "unknown"),
    ]


def reachable(sink: Node) -> list[tuple[str, str]]:
    """(address, interface type) of the sink that a peer reaches it on: all but loopback."""
    return [(ip, kind) for name, ip, kind in addresses(sink) if name != "lo0"]


def rdma_linked(a: Node, b: Node) -> bool:
    # exo only reports an RDMA edge when rdma_ctl is enabled on both ends.
    return a.spec.rdma_enabled and b.spec.rdma_enabled


def tcp_edge(ip: str) -> dict[str, Any]:
    kind = "ip6" if ":" in ip else "ip4"
    return {
        "sinkMultiaddr": {
            "address": f"/{kind}/{ip}/tcp/{EXO_API_PORT}",
            "address_type": kind,
            "ip_address": ip,
            "port": EXO_API_PORT,
        }
    }


def rdma_edge(source: Node, sink: Node) -> dict[str, Any]:
    return {"sourceRdmaIface": source.spec.rdma_iface, "sinkRdmaIface": sink.spec.rdma_iface}


def preferred_ip(sink: Node, ring: bool) -> str:
    """The address exo picks to reach ``sink``: Thunderbolt first for a ring, ethernet first
    for a JACCL coordinator."""
    order = (["thunderbolt", "ethernet"] if ring else ["ethernet", "thunderbolt"])
    candidates = reachable(sink)
    return min(candidates, key=lambda pair: order.index(pair[1]) if pair[1] in order else 9)[0]


def topology(nodes: list[Node]) -> dict[str, Any]:
    """``{"nodes": [ids], "connections": {src: {sink: [edges]}}}`` over the given nodes."""
    connections: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for source in nodes:
        for sink in nodes:
            # A stopped node keeps its place until the timeout but loses its links at once.
            if sink is source or not (source.alive and sink.alive):
                continue
            edges = [tcp_edge(ip) for ip, _ in reachable(sink)]
            if rdma_linked(source, sink):
                edges.append(rdma_edge(source, sink))
            connections.setdefault(source.node_id, {})[sink.node_id] = edges
    return {"nodes": [node.node_id for node in nodes], "connections": connections}
