"""Where an instance goes: exo's placement rules over the simulated nodes, and its previews."""

from __future__ import annotations

import itertools
import random
from typing import Any

from .catalogue import ModelCard
from .cluster import Cluster, Node, even_split, new_id
from .topology import preferred_ip, rdma_linked
from .wire import Wire

SHARDINGS = ("Pipeline", "Tensor")
INSTANCE_METAS = ("MlxRing", "MlxJaccl")
# exo cannot run this card's layers as a pipeline (a rule in exo's placement, both versions).
NO_PIPELINE = {"mlx-community/DeepSeek-V3.1-8bit": "DeepSeek V3.1 (8-bit)"}


class PlacementError(ValueError):
    """A placement exo refuses; the message is exo's own text."""


def place(
    cluster: Cluster,
    card: ModelCard,
    sharding: str,
    meta: str,
    min_nodes: int,
    required: set[str] | None = None,
) -> dict[str, Any]:
    """Return the tagged instance exo would create, or raise PlacementError."""
    nodes = cluster.live_nodes()
    cycles = [
        list(combo)
        for size in range(max(1, min_nodes), len(nodes) + 1)
        for combo in itertools.combinations(nodes, size)
        if not required or required <= {n.node_id for n in combo}
    ]
    cycles = [c for c in cycles if sum(n.ram_available for n in c) >= card.storage_bytes]
    if not cycles:
        raise PlacementError("No cycles found with sufficient memory")
    if sharding == "Tensor":
        if not card.supports_tensor:
            raise PlacementError(
                "Requested Tensor sharding but this model does not support tensor "
                f"parallelism: {card.model_id}"
            )
        kv_heads = card.num_key_value_heads
        cycles = [
            c for c in cycles
            if card.hidden_size % len(c) == 0 and (kv_heads is None or kv_heads % len(c) == 0)
        ]
        if not cycles:
            heads = "" if kv_heads is None else f", num_key_value_heads={kv_heads}"
            raise PlacementError(
                f"No tensor sharding found for model with hidden_size={card.hidden_size}"
                f"{heads} across candidate cycles"
            )
    if sharding == "Pipeline" and card.model_id in NO_PIPELINE:
        raise PlacementError("Pipeline parallelism is not supported for "
                             f"{NO_PIPELINE[card.model_id]}")
    smallest = min(len(c) for c in cycles)
    cycles = [c for c in cycles if len(c) == smallest]
    if meta == "MlxJaccl":
        cycles = [c for c in cycles if _is_rdma_cycle(c)]
        if not cycles:
            raise PlacementError("Requested RDMA (MlxJaccl) but no RDMA-connected cycles available")
    chosen = max(cycles, key=lambda c: (_download_score(cluster, card, c),
                                        sum(n.ram_available for n in c)))
    if len(chosen) == 1:
        # One node can neither split tensors nor talk RDMA to itself.
        sharding, meta = "Pipeline", "MlxRing"
    return _build_instance(cluster.wire, card, chosen, sharding, meta)


def previews(cluster: Cluster, card: ModelCard, required: set[str] | None) -> list[dict[str, Any]]:
    """Every sharding x backend x node count, deduplicated as exo does; none without nodes."""
    seen: set[tuple[str, str, int]] = set()
    result: list[dict[str, Any]] = []
    for sharding in SHARDINGS:
        for meta in INSTANCE_METAS:
            for min_nodes in range(1, len(cluster.live_nodes()) + 1):
                try:
                    instance = place(cluster, card, sharding, meta, min_nodes, required)
                except PlacementError as error:
                    if (sharding, meta, 0) not in seen:
                        result.append(_preview(card, sharding, meta, None, None, str(error)))
                    seen.add((sharding, meta, 0))
                    continue
                node_ids = list(next(iter(instance.values()))["shardAssignments"]["nodeToRunner"])
                if (sharding, meta, len(node_ids)) not in seen:
                    delta = even_split(card.storage_bytes, node_ids)
                    result.append(_preview(card, sharding, meta, instance, delta, None))
                seen.add((sharding, meta, len(node_ids)))
    return result


def _preview(
    card: ModelCard,
    sharding: str,
    meta: str,
    instance: dict[str, Any] | None,
    delta: dict[str, int] | None,
    error: str | None,
) -> dict[str, Any]:
    return {
        "model_id": card.model_id,
        "sharding": sharding,
        "instance_meta": meta,
        "instance": instance,
        "memory_delta_by_node": delta,
        "error": error,
    }


def _ephemeral_port() -> int:
    # exo's ephemeral ports skip its own API port.
    port = random.randint(49153, 65535)
    return port - 1 if port <= 52415 else port


def _is_rdma_cycle(cycle: list[Node]) -> bool:
    return all(rdma_linked(a, b) for a, b in itertools.combinations(cycle, 2))


def _download_score(cluster: Cluster, card: ModelCard, cycle: list[Node]) -> float:
    # Prefer nodes that already hold the weights, as exo does.
    score = 0.0
    for node in cycle:
        download = cluster.downloads.of(node).get(card.model_id)
        if download is None:
            continue
        if download.status == "completed":
            score += 1.0
        elif download.status in ("pending", "ongoing") and download.total > 0:
            score += download.downloaded / download.total
    return score


def _layer_split(card: ModelCard, cycle: list[Node]) -> list[tuple[int, int]]:
    """Pipeline layers in proportion to each node's free memory, at least one each."""
    total = sum(n.ram_available for n in cycle) or 1
    counts = [max(1, card.n_layers * n.ram_available // total) for n in cycle]
    counts[counts.index(max(counts))] += card.n_layers - sum(counts)
    bounds, start = [], 0
    for count in counts:
        bounds.append((start, start + count))
        start += count
    return bounds


def _build_instance(wire: Wire, card: ModelCard, cycle: list[Node], sharding: str, meta: str
                    ) -> dict[str, Any]:
    world = len(cycle)
    # Tensor ranks each hold every layer; pipeline ranks hold consecutive slices.
    bounds = [(0, card.n_layers)] * world if sharding == "Tensor" else _layer_split(card, cycle)
    runner_to_shard: dict[str, Any] = {}
    node_to_runner: dict[str, str] = {}
    for rank, (node, (start, end)) in enumerate(zip(cycle, bounds, strict=True)):
        runner_id = new_id()
        node_to_runner[node.node_id] = runner_id
        runner_to_shard[runner_id] = wire.shard(card, sharding, rank, world, start, end)
    body: dict[str, Any] = {
        "instanceId": new_id(),
        "shardAssignments": {
            "modelId": card.model_id,
            "runnerToShard": runner_to_shard,
            "nodeToRunner": node_to_runner,
        },
    }
    port = _ephemeral_port()
    if meta == "MlxJaccl":
        body["jacclDevices"] = [
            [None if a is b else a.spec.rdma_iface for b in cycle] for a in cycle
        ]
        coordinator = cycle[0]
        body["jacclCoordinators"] = {
            node.node_id: f"0.0.0.0:{port}" if node is coordinator
            else f"{preferred_ip(coordinator, ring=False)}:{port}"
            for node in cycle
        }
        return {"MlxJacclInstance": body}
    body["hostsByNode"] = {node.node_id: _ring_hosts(cycle, rank, port)
                           for rank, node in enumerate(cycle)}
    body["ephemeralPort"] = port
    return {"MlxRingInstance": body}


def _ring_hosts(cycle: list[Node], rank: int, port: int) -> list[dict[str, Any]]:
    """Each rank listens on every address and talks to its two ring neighbours; exo fills the
    other places with a TEST-NET placeholder."""
    world = len(cycle)
    neighbours = {(rank - 1) % world, (rank + 1) % world}
    return [
        {"ip": "0.0.0.0", "port": port} if index == rank
        else {"ip": preferred_ip(peer, ring=True), "port": port} if index in neighbours
        else {"ip": "198.51.100.1", "port": 0}
        for index, peer in enumerate(cycle)
    ]
