"""The cluster poll: read exo's `/state`, update the live inventory, its memory and performance
history, keep the latest snapshot in the cache and push it to `/ws/cluster/`. One poll at a
time."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from arthur_panel.redis_client import unless_under_way
from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from cluster_app.exo.state import RDMA, ClusterView, DownloadView, InstanceView, NodeView, normalise
from cluster_app.jobs import events
from cluster_app.metrics.families import RUNNER_FAILURES
from cluster_app.metrics.rules import new_runner_failures
from cluster_app.models import Node, NodeMemorySample
from cluster_app.nodes.changes import LIVE_FIELDS, live_values
from cluster_app.nodes.gpus import silent_status
from cluster_app.nodes.links import NO_TABLES, LinkTables, link_tables
from cluster_app.nodes.live import (
    HISTORY_TIERS,
    InventoryNode,
    match_nodes,
    node_status,
    unknown_nodes,
    utilisation,
)
from cluster_app.nodes.perf_history import drop_old_buckets, record_series, tier_buckets
from cluster_app.nodes.rows import keep_peaks, update_rows
from cluster_app.nodes.serializers import snapshot_node_payloads
from cluster_app.nodes.series import live_series

logger = logging.getLogger(__name__)

# JSON text (keep_snapshot); a pickled dict under the old name "cluster:snapshot" is ignored.
SNAPSHOT_KEY = "cluster:snapshot.json"
INSTANCES_KEY = "cluster:instances"  # the last poll's, for _count_runner_failures
LOCK_KEY = "arthur:cluster-poll-lock"
SPARKLINE_POINTS = 60


def cluster_poll_locked() -> dict[str, Any] | None:
    """Poll unless another poll is running (then return None)."""
    return unless_under_way(LOCK_KEY, max(10.0, settings.CLUSTER_POLL_SECONDS * 5), _poll_exo)


def _poll_exo() -> dict[str, Any]:
    with ExoClient(retries=0) as client:
        return cluster_poll(client=client)


def cluster_poll(*, client: ExoClient, now: datetime | None = None) -> dict[str, Any]:
    with _collector_paused():
        return _poll(client, now or timezone.now())


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile. A poll of 32 nodes makes some 50,000 objects
    (exo's /state alone), which reference counting frees as it ends; collections set off
    while they live would only walk them (a tenth of the poll's time)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _poll(client: ExoClient, now: datetime) -> dict[str, Any]:
    view: ClusterView | None = None
    error = None
    try:
        view = normalise(client.state())
    except (ExoUnavailable, ExoError) as exc:
        error = exc.message
    # Links are rewritten below and can be large (a full mesh): never read them back; nor the
    # JSON of how a node's worker runs exo and its GPU probe, which nothing here reads.
    nodes = list(Node.objects.defer("links", "exo_start_command", "exo_join_programs",
                                    "exo_environment", "exo_log_files", "gpu_probe_command"))
    # A node that reads its own GPUs is written by its worker (gpu_poll), never here.
    polled = [node for node in nodes if not node.reads_gpus]
    matched = match_nodes(view.nodes if view else [], [inventory_node(node) for node in polled])
    names = {v.node_id: name for name, v in matched.items()}
    links = link_tables(view.links, names) if view else NO_TABLES
    before = {node.pk: (live_values(node), node.links_digest) for node in polled}
    for node in polled:
        _apply(node, matched.get(node.name), view, links, now)
    with transaction.atomic():
        _save_live_fields(polled, before)
        record_memory([(node, matched[node.name].ram_used, matched[node.name].ram_total)
                       for node in polled if node.name in matched], now)
        record_series([(node, live_series(gpu_usage=node.gpu_usage, temperature=node.temperature,
                                          power=node.power, swap_used=node.swap_used))
                       for node in polled if node.name in matched], now)
        for node in nodes:
            if node.reads_gpus:
                _mark_silent(node, now)
    snapshot = build_snapshot(nodes, view, names, links.pairs, error=error, now=now)
    _count_runner_failures(snapshot["instances"])
    keep_snapshot(snapshot)
    # Built from JSON-safe values only (the serializer's output, plain numbers and strings).
    events.publish([events.CLUSTER_GROUP], {"type": "cluster.update", "cluster": snapshot},
                   already_json=True)
    return snapshot


def _count_runner_failures(instances: list[dict[str, Any]]) -> None:
    """Count each runner failure once: against the previous poll's instances (polls run one
    at a time), kept on their own (at 32 nodes, reading the whole snapshot back for them cost
    more). A model's counter starts at 0 when it is first seen, so it is there to compare
    before anything failed."""
    previous = cache.get(INSTANCES_KEY) or []
    cache.set(INSTANCES_KEY, instances, timeout=None)
    for instance in instances:
        RUNNER_FAILURES.labels(instance["model_id"])
    for model in new_runner_failures(previous, instances):
        RUNNER_FAILURES.labels(model).inc()


def _save_live_fields(nodes: list[Node], before: dict[int, tuple[tuple[Any, ...], str]]) -> None:
    """Write the live fields of the nodes where one changed, and the links of those whose links
    did (`before`: node pk -> its live values and links digest as read)."""
    update_rows(Node, LIVE_FIELDS, {node.pk: values for node in nodes
                                    if (values := live_values(node)) != before[node.pk][0]})
    update_rows(Node, ["links", "links_digest"], {
        node.pk: (node.links, node.links_digest) for node in nodes
        if node.links_digest != before[node.pk][1]})


def cluster_snapshot() -> dict[str, Any] | None:
    """The latest poll's snapshot, or None before the first poll."""
    text = cache.get(SNAPSHOT_KEY)
    return orjson.loads(text) if text is not None else None


def keep_snapshot(snapshot: dict[str, Any]) -> None:
    """Make `snapshot` (JSON values only) the latest poll's. Kept as JSON text: at 32 nodes
    pickle takes several times as long to write it and to read it back."""
    cache.set(SNAPSHOT_KEY, orjson.dumps(snapshot), timeout=None)


def inventory_node(node: Node) -> InventoryNode:
    return InventoryNode(node.name, node.display_name, node.hostname, node.in_exo_cluster,
                         node.expects_rdma)


def _apply(node: Node, view: NodeView | None, cluster: ClusterView | None, links: LinkTables,
           now: datetime) -> None:
    node.links, node.links_digest = links.node_links(view.node_id if view else "")
    if view is not None:
        node.exo_node_id = view.node_id
        node.last_seen_at = now
        node.ram_total = view.ram_total
        node.ram_used = view.ram_used
        node.swap_used = max(view.swap_total - view.swap_available, 0)
        node.disk_total = view.disk_total
        node.disk_free = view.disk_available
        node.gpu_usage = view.gpu_usage
        node.temperature = view.temperature
        node.power = view.power
        node.rdma_enabled = view.rdma_enabled
    status = node_status(inventory_node(node), view, cluster, last_seen=node.last_seen_at,
                         now=now, offline_after=timedelta(seconds=settings.NODE_OFFLINE_SECONDS))
    node.status, node.status_reason = status.status, status.reason[:255]


def _mark_silent(node: Node, now: datetime) -> None:
    """Offline once the node's worker has sent no GPU reading for NODE_OFFLINE_SECONDS."""
    status = silent_status(last_seen=node.last_seen_at, now=now,
                           offline_after=timedelta(seconds=settings.NODE_OFFLINE_SECONDS),
                           queue=node.control_queue)
    if status is None or (node.status, node.status_reason) == (status.status, status.reason):
        return
    # Unless a reading came in since this poll read the row: it is the fresher word.
    if Node.objects.filter(pk=node.pk, last_seen_at=node.last_seen_at).update(
            status=status.status, status_reason=status.reason):
        node.status, node.status_reason = status.status, status.reason


def record_memory(samples: list[tuple[Node, int, int]], now: datetime) -> None:
    """Keep each node's memory in use, (node, used, total), as the peak of its bucket, and only
    the buckets inside each tier's window."""
    keep_peaks(NodeMemorySample, ["node", "tier", "bucket"], "ram_used", ["ram_total"],
               [(node.pk, tier, bucket, ram_used, ram_total) for tier, bucket in tier_buckets(now)
                for node, ram_used, ram_total in samples])
    drop_old_buckets(NodeMemorySample, now)


def memory_history(node: Node, tier: str = "10s", limit: int | None = None) -> list[dict[str, Any]]:
    samples = node.memory_samples.filter(tier=tier).order_by("-bucket")
    rows = list(samples[:limit] if limit else samples)
    return [_sample(s) for s in reversed(rows)]


def _sample(sample: NodeMemorySample) -> dict[str, Any]:
    return {"at": sample.bucket.isoformat(), "ram_used": sample.ram_used,
            "ram_total": sample.ram_total}


def with_history(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The snapshot plus each node's recent memory history (sparklines), in one query. Sent
    once when a browser connects; the periodic frames leave it out to stay small."""
    width, _ = HISTORY_TIERS["10s"]
    since = timezone.now() - timedelta(seconds=width * SPARKLINE_POINTS)
    history: dict[str, list[dict[str, Any]]] = {}
    for sample in NodeMemorySample.objects.filter(tier="10s", bucket__gte=since).select_related(
            "node").order_by("bucket"):
        history.setdefault(sample.node.name, []).append(_sample(sample))
    return {**snapshot, "nodes": [{**node, "history": history.get(node["name"], [])}
                                  for node in snapshot["nodes"]]}


def build_snapshot(nodes: list[Node], view: ClusterView | None, names: dict[str, str],
                   links: list[dict[str, Any]], *, error: str | None, now: datetime
                   ) -> dict[str, Any]:
    """The snapshot of this poll; `links`: each pair of nodes and kind once."""
    exo_nodes = [node for node in nodes if node.in_exo_cluster]
    used = sum(node.ram_used or 0 for node in exo_nodes if node.status != Node.Status.OFFLINE)
    total = sum(node.ram_total or node.ram_bytes for node in exo_nodes)
    return {
        "reachable": view is not None,
        "error": error,
        "exo_url": settings.EXO_API_URL,
        "polled_at": now.isoformat(),
        "shape": view.shape if view else None,
        "nodes": snapshot_node_payloads(nodes),
        "links": links,
        "rdma_expected": any(node.expects_rdma for node in exo_nodes) and len(exo_nodes) > 1,
        "rdma_linked": any(link["kind"] == RDMA for link in links),
        "instances": [instance_payload(i, names) for i in view.instances] if view else [],
        "downloads": [_download_payload(d, names) for d in view.downloads] if view else [],
        "unmatched_nodes": [n.friendly_name for n in unknown_nodes(
            view.nodes, [inventory_node(node) for node in nodes])] if view else [],
        "totals": utilisation(used, total),
    }


def instance_payload(instance: InstanceView, names: dict[str, str]) -> dict[str, Any]:
    return {
        "instance_id": instance.instance_id,
        "model_id": instance.model_id,
        "backend": instance.backend,
        "sharding": instance.sharding,
        "nodes": [names.get(node_id, node_id) for node_id in instance.node_ids],
        "status": instance.status,
        "error": instance.error,
        "layers_loaded": instance.layers_loaded,
        "layers_total": instance.layers_total,
        "storage_bytes": instance.storage_bytes,
        "runners": [{**asdict(r), "node": names.get(r.node_id or "", r.node_id)}
                    for r in instance.runners],
    }


def _download_payload(download: DownloadView, names: dict[str, str]) -> dict[str, Any]:
    return {"node": names.get(download.node_id), "model_id": download.model_id,
            "status": download.status, "downloaded": download.downloaded,
            "total": download.total, "speed": download.speed, "eta_ms": download.eta_ms,
            "files_done": download.files_done, "files_total": download.files_total,
            "error": download.error}
