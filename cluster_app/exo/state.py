"""Turn exo's `/state` into plain records: nodes, links, instances, runners, downloads.

Pure: JSON in, dataclasses out, no I/O and no clock. Reads the current shape (v1.0.64+, the
`node*` maps) and the older one (v1.0.60-63, `nodeProfiles`).

The links of the last topology read are kept and handed out again while it stays the same: in a
mesh of 32 nodes exo lists about 4,000, and from one poll to the next they hardly ever change.
Views of one topology share that list, so no one changes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

READY_STATES = {"Ready", "Running"}
RDMA, TCP = "rdma", "tcp"


@dataclass
class NodeView:
    node_id: str
    friendly_name: str
    model: str = ""
    chip: str = ""
    os_version: str = ""
    ram_total: int = 0
    ram_available: int = 0
    swap_total: int = 0
    swap_available: int = 0
    disk_total: int | None = None
    disk_available: int | None = None
    gpu_usage: float | None = None
    temperature: float | None = None
    power: float | None = None
    rdma_enabled: bool | None = None
    rdma_interfaces: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    last_seen: str | None = None

    @property
    def ram_used(self) -> int:
        return max(self.ram_total - self.ram_available, 0)


@dataclass
class LinkView:
    source: str
    sink: str
    kind: str  # RDMA or TCP
    source_interface: str | None = None
    sink_interface: str | None = None
    address: str | None = None


@dataclass
class RunnerView:
    runner_id: str
    node_id: str | None
    state: str  # exo's runner state without the "Runner" prefix: Loading, Ready, Failed...
    layers_loaded: int | None = None
    total_layers: int | None = None
    error: str | None = None


@dataclass
class InstanceView:
    instance_id: str
    model_id: str
    backend: str  # MlxRing or MlxJaccl
    sharding: str  # Pipeline or Tensor
    node_ids: list[str]
    runners: list[RunnerView]
    storage_bytes: int | None = None
    n_layers: int | None = None

    @property
    def status(self) -> str:
        """ready, failed, loading, stopping or starting, from the runners' states."""
        states = [runner.state for runner in self.runners]
        if states and all(state in READY_STATES for state in states):
            return "ready"
        if any(state == "Failed" for state in states):
            return "failed"
        if any(state in ("Loading", "Loaded", "WarmingUp") for state in states):
            return "loading"
        if any(state in ("ShuttingDown", "Shutdown") for state in states):
            return "stopping"
        return "starting"

    @property
    def error(self) -> str | None:
        return next((runner.error for runner in self.runners if runner.error), None)

    @property
    def layers_loaded(self) -> int:
        return sum(_loaded_layers(runner) for runner in self.runners)

    @property
    def layers_total(self) -> int:
        return sum(runner.total_layers or 0 for runner in self.runners)


@dataclass
class DownloadView:
    node_id: str
    model_id: str
    status: str  # pending, ongoing, completed, failed
    downloaded: int = 0
    total: int = 0
    speed: float | None = None
    eta_ms: int | None = None
    files_done: int | None = None
    files_total: int | None = None
    error: str | None = None
    model_directory: str | None = None


@dataclass
class ClusterView:
    shape: str  # "current" or "legacy"
    nodes: list[NodeView]
    links: list[LinkView]
    instances: list[InstanceView]
    downloads: list[DownloadView]

    def node(self, node_id: str) -> NodeView | None:
        return next((node for node in self.nodes if node.node_id == node_id), None)


def untag(tagged: Any) -> tuple[str, dict[str, Any]]:
    """`{"MlxRingInstance": {...}}` -> ("MlxRingInstance", {...})."""
    if isinstance(tagged, dict) and len(tagged) == 1:
        tag, body = next(iter(tagged.items()))
        if isinstance(body, dict):
            return tag, body
    return "", tagged if isinstance(tagged, dict) else {}


def in_bytes(value: Any) -> int:
    if isinstance(value, dict):
        return int(value.get("inBytes", value.get("in_bytes", 0)) or 0)
    return int(value or 0)


def normalise(state: dict[str, Any]) -> ClusterView:
    if "nodeProfiles" in state:
        nodes, links = _legacy_nodes(state), _links(state.get("topology") or {}, _legacy_links)
        shape = "legacy"
    else:
        nodes, links = _current_nodes(state), _links(state.get("topology") or {}, _current_links)
        shape = "current"
    runners = state.get("runners") or {}
    return ClusterView(
        shape=shape,
        nodes=nodes,
        links=links,
        instances=[_instance(tagged, runners)
                   for tagged in (state.get("instances") or {}).values()],
        downloads=_downloads(state.get("downloads") or {}),
    )


# The last topology read, as (reader, its JSON text, its links).
_last_links: list[tuple[Callable[[dict[str, Any]], list[LinkView]], bytes, list[LinkView]]] = []


def _links(topology: dict[str, Any], read: Callable[[dict[str, Any]], list[LinkView]]
           ) -> list[LinkView]:
    """`read(topology)`, or the list it gave last time if the topology is the same. Compared as
    JSON text: a fifth of the time reading it takes, and text is no work for the collector."""
    text = orjson.dumps(topology)
    for last_read, last_text, last_links in _last_links:
        if last_read is read and last_text == text:
            return last_links
    links = read(topology)
    _last_links[:] = [(read, text, links)]
    return links


def _current_nodes(state: dict[str, Any]) -> list[NodeView]:
    identities = state.get("nodeIdentities") or {}
    topology_ids = (state.get("topology") or {}).get("nodes") or []
    ids = list(dict.fromkeys([*topology_ids, *identities, *(state.get("nodeMemory") or {})]))
    nodes = []
    for node_id in ids:
        identity = identities.get(node_id) or {}
        memory = (state.get("nodeMemory") or {}).get(node_id) or {}
        disk = (state.get("nodeDisk") or {}).get(node_id)
        system = (state.get("nodeSystem") or {}).get(node_id) or {}
        network = (state.get("nodeNetwork") or {}).get(node_id) or {}
        thunderbolt = (state.get("nodeThunderbolt") or {}).get(node_id) or {}
        rdma = (state.get("nodeRdmaCtl") or {}).get(node_id)
        nodes.append(NodeView(
            node_id=node_id,
            friendly_name=identity.get("friendlyName") or node_id[:12],
            model=identity.get("modelId", ""),
            chip=identity.get("chipId", ""),
            os_version=identity.get("osVersion", ""),
            ram_total=in_bytes(memory.get("ramTotal")),
            ram_available=in_bytes(memory.get("ramAvailable")),
            swap_total=in_bytes(memory.get("swapTotal")),
            swap_available=in_bytes(memory.get("swapAvailable")),
            disk_total=in_bytes(disk.get("total")) if disk else None,
            disk_available=in_bytes(disk.get("available")) if disk else None,
            gpu_usage=system.get("gpuUsage"),
            temperature=system.get("temp"),
            power=system.get("sysPower"),
            rdma_enabled=rdma.get("enabled") if isinstance(rdma, dict) else None,
            rdma_interfaces=[i["rdmaInterface"] for i in thunderbolt.get("interfaces", [])
                             if i.get("rdmaInterface")],
            addresses=[i["ipAddress"] for i in network.get("interfaces", []) if i.get("ipAddress")],
            last_seen=(state.get("lastSeen") or {}).get(node_id),
        ))
    return nodes


def _current_links(topology: dict[str, Any]) -> list[LinkView]:
    links = []
    for source, sinks in (topology.get("connections") or {}).items():
        for sink, edges in sinks.items():
            for edge in edges:
                if "sourceRdmaIface" in edge:
                    links.append(LinkView(source, sink, RDMA, edge.get("sourceRdmaIface"),
                                          edge.get("sinkRdmaIface")))
                else:
                    multiaddr = edge.get("sinkMultiaddr") or {}
                    links.append(LinkView(source, sink, TCP, address=multiaddr.get("address")))
    return links


def _legacy_nodes(state: dict[str, Any]) -> list[NodeView]:
    nodes = []
    for node_id, profile in (state.get("nodeProfiles") or {}).items():
        memory = profile.get("memory") or {}
        system = profile.get("system") or {}
        nodes.append(NodeView(
            node_id=node_id,
            friendly_name=profile.get("friendlyName") or node_id[:12],
            model=profile.get("modelId", ""),
            chip=profile.get("chipId", ""),
            ram_total=in_bytes(memory.get("ramTotal")),
            ram_available=in_bytes(memory.get("ramAvailable")),
            swap_total=in_bytes(memory.get("swapTotal")),
            swap_available=in_bytes(memory.get("swapAvailable")),
            gpu_usage=system.get("gpuUsage"),
            temperature=system.get("temp"),
            power=system.get("sysPower"),
            rdma_interfaces=[i.get("rdmaInterface") or i.get("name", "")
                             for i in profile.get("tbInterfaces") or [] if isinstance(i, dict)],
            addresses=[i["ipAddress"] for i in profile.get("networkInterfaces") or []
                       if i.get("ipAddress")],
            last_seen=(state.get("lastSeen") or {}).get(node_id),
        ))
    return nodes


def _legacy_links(topology: dict[str, Any]) -> list[LinkView]:
    links = []
    for connection in topology.get("connections") or []:
        profile = connection.get("connectionProfile") or {}
        rdma = "sourceRdmaIface" in profile
        links.append(LinkView(
            source=connection.get("localNodeId", ""),
            sink=connection.get("sendBackNodeId", ""),
            kind=RDMA if rdma else TCP,
            source_interface=profile.get("sourceRdmaIface"),
            sink_interface=profile.get("sinkRdmaIface"),
            address=None if rdma else _multiaddr(connection.get("sendBackMultiaddr")),
        ))
    return links


def _multiaddr(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("address")
    return value if isinstance(value, str) else None


def _instance(tagged: Any, runners: dict[str, Any]) -> InstanceView:
    tag, body = untag(tagged)
    assignments = body.get("shardAssignments") or {}
    node_to_runner = assignments.get("nodeToRunner") or {}
    runner_to_shard = assignments.get("runnerToShard") or {}
    shard_tag, shard = untag(next(iter(runner_to_shard.values()), {}))
    card = shard.get("modelCard") or {}
    views = []
    for node_id, runner_id in node_to_runner.items():
        _, own_shard = untag(runner_to_shard.get(runner_id, {}))
        views.append(_runner(runner_id, node_id, runners.get(runner_id), own_shard))
    return InstanceView(
        instance_id=body.get("instanceId", ""),
        model_id=assignments.get("modelId") or card.get("modelId", ""),
        backend=tag.removesuffix("Instance") or "unknown",
        sharding=shard_tag.removesuffix("ShardMetadata") or "unknown",
        node_ids=list(node_to_runner),
        runners=views,
        storage_bytes=in_bytes(card.get("storageSize")) if card.get("storageSize") else None,
        n_layers=card.get("nLayers") or shard.get("nLayers"),
    )


def _runner(runner_id: str, node_id: str, tagged: Any, shard: dict[str, Any]) -> RunnerView:
    if tagged is None:
        return RunnerView(runner_id, node_id, "Pending")
    tag, body = untag(tagged)
    state = tag.removeprefix("Runner") or "Unknown"
    shard_layers = None
    if "startLayer" in shard and "endLayer" in shard:
        shard_layers = shard["endLayer"] - shard["startLayer"]
    return RunnerView(
        runner_id=runner_id,
        node_id=node_id,
        state=state,
        layers_loaded=body.get("layersLoaded"),
        total_layers=body.get("totalLayers") or shard_layers,
        error=body.get("errorMessage"),
    )


def _loaded_layers(runner: RunnerView) -> int:
    if runner.state in ("Loaded", "WarmingUp", *READY_STATES):
        return runner.total_layers or 0
    return runner.layers_loaded or 0


DOWNLOAD_STATUS = {"DownloadPending": "pending", "DownloadOngoing": "ongoing",
                   "DownloadCompleted": "completed", "DownloadFailed": "failed"}


def _downloads(downloads: dict[str, Any]) -> list[DownloadView]:
    views = []
    for node_id, entries in downloads.items():
        for tagged in entries or []:
            tag, body = untag(tagged)
            _, shard = untag(body.get("shardMetadata") or {})
            card = shard.get("modelCard") or {}
            progress = body.get("downloadProgress") or {}
            total = in_bytes(progress.get("total", body.get("total")))
            status = DOWNLOAD_STATUS.get(tag, "unknown")
            # A completed entry carries only its total.
            default_done = total if status == "completed" else 0
            views.append(DownloadView(
                node_id=body.get("nodeId") or node_id,
                model_id=card.get("modelId", ""),
                status=status,
                downloaded=in_bytes(progress.get("downloaded",
                                                 body.get("downloaded", default_done))),
                total=total,
                speed=progress.get("speed"),
                eta_ms=progress.get("etaMs"),
                files_done=progress.get("completedFiles"),
                files_total=progress.get("totalFiles"),
                error=body.get("errorMessage"),
                model_directory=body.get("modelDirectory"),
            ))
    return views
