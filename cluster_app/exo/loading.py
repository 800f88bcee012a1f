"""Where a model load stands, read from exo's state as exo goes through it: each node downloads
its shard of the weights (`/state.downloads`, runners idle or not yet started), then the runners
start and connect, load their layers, warm up and are ready.

Pure: the normalised state in, the stage out; no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cluster_app.exo.state import DownloadView, InstanceView
from cluster_app.nodes.units import GIB, format_gib

DOWNLOADING, STARTING, LOADING, WARMING_UP, READY, FAILED = (
    "downloading", "starting", "loading", "warming up", "ready", "failed")
# Runner states before a runner has its shard: its process starting, or idle while the node
# downloads.
WAITING_FOR_SHARD = {"Pending", "Idle"}


@dataclass(frozen=True)
class LoadStage:
    phase: str  # downloading, starting, loading, warming up, ready or failed
    done: int
    total: int
    unit: str  # bytes while downloading, layers after
    message: str
    error: str | None = None  # why it failed


def shard_downloads(instance: InstanceView,
                    downloads: Iterable[DownloadView]) -> list[DownloadView]:
    """exo's download entries for this instance's model on its nodes."""
    return [d for d in downloads
            if d.model_id == instance.model_id and d.node_id in instance.node_ids]


def load_stage(instance: InstanceView, downloads: Iterable[DownloadView],
               names: Mapping[str, str]) -> LoadStage:
    """The stage of the load, its progress (bytes downloaded, or layers loaded) and a message
    naming the phase; `names` maps exo node ids to the names to show."""
    layers_total = instance.layers_total or instance.n_layers or 0
    if instance.status == "ready":
        return LoadStage(READY, layers_total, layers_total, "layers",
                         f"Ready on {_nodes(instance.node_ids, names)}")
    shards = shard_downloads(instance, downloads)
    if instance.status == "failed":
        return _failed(instance, layers_total, instance.error or "a runner failed")
    for download in shards:
        if download.status == "failed":
            node = names.get(download.node_id, download.node_id)
            return _failed(instance, layers_total, f"{node} could not download its shard: "
                                                   f"{download.error or 'download failed'}")
    states = {runner.state for runner in instance.runners}
    if states <= WAITING_FOR_SHARD and any(d.status != "completed" for d in shards):
        done = sum(d.total if d.status == "completed" else d.downloaded for d in shards)
        total = sum(d.total for d in shards)
        each = ", ".join(f"{names.get(d.node_id, d.node_id)} {_share(d)}" for d in shards)
        return LoadStage(DOWNLOADING, done, total, "bytes",
                         f"Downloading shards: {_size(done)} of {_size(total)} ({each})")
    progress = f"{instance.layers_loaded}/{layers_total} layers"
    if states & {"Loading", "Loaded"}:
        return LoadStage(LOADING, instance.layers_loaded, layers_total, "layers",
                         f"Loading layers: {progress}")
    if "WarmingUp" in states:
        return LoadStage(WARMING_UP, instance.layers_loaded, layers_total, "layers",
                         f"Warming up: {progress}")
    # "Pending" is the panel's word for a runner exo does not list yet: its process starting.
    runners = ", ".join(sorted(state.lower().replace("pending", "process starting")
                               for state in states)) or "not started"
    return LoadStage(STARTING, instance.layers_loaded, layers_total, "layers",
                     f"Starting runners ({runners}): {progress}")


@dataclass(frozen=True)
class Lost:
    message: str
    restarted: bool  # exo restarted: the nodes are back under new ids


def lost_instance(placed_on: Mapping[str, str], nodes: Mapping[str, str]) -> Lost:
    """Why an instance left exo's state mid-load. `placed_on` maps the exo node ids it was
    loading on to their names, `nodes` those exo lists now. exo makes new node ids at every
    start: the same nodes back under other ids means exo restarted, and forgot the instance."""
    if not placed_on or set(placed_on) & set(nodes):
        return Lost("the instance disappeared from exo's state while loading (a node dropped "
                    "out, or it was unloaded)", restarted=False)
    names = ", ".join(sorted(set(placed_on.values())))
    if set(placed_on.values()) <= set(nodes.values()):
        return Lost(f"exo restarted while the model was loading: {names} came back under new "
                    "node ids, without the instance. Load the model again.", restarted=True)
    return Lost(f"the nodes the model was loading on ({names}) left exo's state (exo "
                "restarted, or they dropped out), and the instance with them", restarted=False)


def _failed(instance: InstanceView, layers_total: int, error: str) -> LoadStage:
    return LoadStage(FAILED, instance.layers_loaded, layers_total, "layers", f"Failed: {error}",
                     error=error)


def _size(value: int) -> str:
    """Bytes in the guide's binary GB, or MB below one GB (a shard of a small model)."""
    return format_gib(value) if value >= GIB else f"{value / 1024**2:.1f} MB"


def _share(download: DownloadView) -> str:
    if download.status == "completed":
        return "done"
    if not download.total:
        return download.status
    return f"{download.downloaded / download.total:.0%}"


def _nodes(node_ids: Iterable[str], names: Mapping[str, str]) -> str:
    return ", ".join(names.get(node_id, node_id) for node_id in node_ids)
