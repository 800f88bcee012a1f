"""Model downloads per node: the entries of ``/state.downloads`` and how they move over time."""

from __future__ import annotations

import math
from typing import Any

from .catalogue import GIB, ModelCard
from .cluster import Cluster, Download, Node
from .placement import shard

FILE_BYTES = 5 * GIB  # mlx-community shards weights into files of about 5 GB


def render(node: Node, downloads: dict[str, Download]) -> list[dict[str, Any]]:
    return [_entry(node, download) for download in downloads.values()]


def _entry(node: Node, download: Download) -> dict[str, Any]:
    card = download.model
    common: dict[str, Any] = {
        "nodeId": node.node_id,
        "shardMetadata": shard(card, "Pipeline", 0, 1, 0, card.n_layers),
        "modelDirectory": f"{node.models_dir}/{card.dir_name}",
    }
    total = {"inBytes": card.storage_bytes}
    if download.status == "completed":
        return {"DownloadCompleted": {**common, "total": total, "readOnly": False}}
    if download.status == "failed":
        return {"DownloadFailed": {**common, "errorMessage": download.error}}
    if download.status == "pending":
        return {"DownloadPending": {
            **common, "downloaded": {"inBytes": download.downloaded}, "total": total,
        }}
    progress = _progress(card.storage_bytes, download.downloaded, download.this_session,
                         download.speed)
    progress["files"] = _files(card, download)
    return {"DownloadOngoing": {**common, "downloadProgress": progress}}


def _progress(total: int, done: int, session: int, speed: float) -> dict[str, Any]:
    files = max(1, math.ceil(total / FILE_BYTES))
    return {
        "total": {"inBytes": total},
        "downloaded": {"inBytes": done},
        "downloadedThisSession": {"inBytes": session},
        "completedFiles": min(files, done // FILE_BYTES),
        "totalFiles": files,
        "speed": speed,
        "etaMs": int((total - done) / speed * 1000) if speed > 0 else 0,
    }


def _files(card: ModelCard, download: Download) -> dict[str, Any]:
    """Files fill one after another, like huggingface_hub fetching a snapshot."""
    count = max(1, math.ceil(card.storage_bytes / FILE_BYTES))
    files: dict[str, Any] = {}
    for index in range(count):
        start = index * FILE_BYTES
        size = min(FILE_BYTES, card.storage_bytes - start)
        done = min(size, max(0, download.downloaded - start))
        progress = _progress(size, done, min(done, download.this_session), download.speed)
        progress["completedFiles"] = 1 if done == size else 0
        progress["totalFiles"] = 1
        files[f"model-{index + 1:05d}-of-{count:05d}.safetensors"] = progress
    return files


def start(cluster: Cluster, node: Node, model_id: str) -> None:
    """Idempotent: a completed or running download is left alone."""
    download = cluster.downloads[node.name][model_id]
    if download.status in ("completed", "ongoing"):
        return
    download.status, download.this_session, download.error = "ongoing", 0, ""
    cluster.log(node, "download", f"Starting download of {model_id} to {node.models_dir}")
    cluster.touch()


def cancel(cluster: Cluster, node: Node, model_id: str) -> None:
    """Pause: the entry goes back to pending and keeps its bytes."""
    download = cluster.downloads[node.name][model_id]
    if download.status == "ongoing":
        download.status, download.speed = "pending", 0.0
        cluster.log(node, "download", f"Download of {model_id} paused at {download.downloaded} B")
        cluster.touch()


def delete(cluster: Cluster, node: Node, model_id: str) -> None:
    download = cluster.downloads[node.name][model_id]
    download.status, download.downloaded, download.this_session = "pending", 0, 0
    download.speed, download.error = 0.0, ""
    cluster.log(node, "download", f"Deleted {node.models_dir}/{download.model.dir_name}")
    cluster.touch()


def fail(cluster: Cluster, node: Node, model_id: str, message: str) -> None:
    download = cluster.downloads[node.name][model_id]
    download.status, download.error, download.speed = "failed", message, 0.0
    cluster.log(node, "download", f"Download of {model_id} failed: {message}", "ERROR")
    cluster.touch()


def advance(cluster: Cluster, elapsed: float) -> None:
    for node in cluster.live_nodes():
        for model_id, download in cluster.downloads[node.name].items():
            if download.status != "ongoing":
                continue
            # A little jitter so the speed readout moves like a real one.
            download.speed = cluster.config.download_speed * cluster.speed * node.rng.uniform(
                0.9, 1.1)
            step = min(round(download.speed * elapsed),
                       download.model.storage_bytes - download.downloaded)
            download.downloaded += step
            download.this_session += step
            if download.downloaded >= download.model.storage_bytes:
                download.status, download.speed = "completed", 0.0
                cluster.log(node, "download", f"Download of {model_id} complete")
            cluster.touch()
