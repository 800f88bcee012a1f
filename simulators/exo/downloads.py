"""Model files on each machine, and exo's view of them: the entries of ``/state.downloads``.

The disk outlives exo: simulated weight files (per machine name) plus whatever really sits in the
node's models directory (a copy the panel downloaded there). exo's view is per node id and moves
as exo's download coordinator moves it: a rescan of the disk at start and every
``rescan_interval`` seconds lists every known card (complete, or pending with the bytes already
there), a download of a shard goes pending, ongoing file by file, completed; a completed entry is
never downgraded by a rescan, so files deleted behind exo's back leave it stale (exo issue 1568).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalogue import GIB, ModelCard, file_layout

if TYPE_CHECKING:  # cluster.py builds the Downloads and Disks defined here
    from .cluster import Cluster, Node
    from .config import SimConfig

FILE_BYTES = 5 * GIB  # mlx-community shards weights into files of about 5 GiB


@dataclass(frozen=True)
class Shard:
    """Which layers of a model a download is for (the whole model, or one rank's share)."""

    sharding: str  # Pipeline or Tensor
    rank: int
    world: int
    start: int
    end: int

    @classmethod
    def whole(cls, card: ModelCard) -> Shard:
        return cls("Pipeline", 0, 1, 0, card.n_layers)

    def files(self, card: ModelCard) -> list[tuple[str, int]]:
        """The weight files holding these layers: all of them for a tensor shard."""
        layout = file_layout(card, FILE_BYTES)
        if self.sharding == "Tensor" or (self.start, self.end) == (0, card.n_layers):
            return layout
        count = len(layout)
        first = self.start * count // card.n_layers
        last = (max(self.end, self.start + 1) - 1) * count // card.n_layers
        return layout[first:last + 1]


def real_copy(directory: Path) -> tuple[bool, int]:
    """(complete, bytes on disk) of a model directory, judged as exo does: complete when a
    safetensors index is there and every weight file it names is too."""
    if not directory.is_dir():
        return False, 0
    files = [p for p in directory.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    indexes = [p for p in files if p.name.endswith(".safetensors.index.json")]
    if not indexes:
        return False, size
    for index in indexes:
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError):
            return False, size
        if not all((index.parent / name).is_file() for name in set(weight_map.values())):
            return False, size
    return True, size


class Disks:
    """Simulated weight files per machine: name -> model id -> file name -> bytes written."""

    def __init__(self, config: SimConfig) -> None:
        self.files: dict[str, dict[str, dict[str, int]]] = {}
        self.config = config

    def seed(self, node: Node, cards: dict[str, ModelCard]) -> None:
        """The models a machine holds when the simulation starts."""
        if node.name in self.files:
            return
        self.files[node.name] = {
            model_id: dict(file_layout(cards[model_id], FILE_BYTES))
            for model_id in self.config.downloaded_on(node.spec) if model_id in cards
        }

    def model_files(self, node: Node, model_id: str) -> dict[str, int]:
        return self.files.setdefault(node.name, {}).setdefault(model_id, {})

    def real_dir(self, node: Node, card: ModelCard) -> Path:
        return Path(node.models_dir) / card.dir_name

    def status(self, node: Node, card: ModelCard, shard: Shard) -> tuple[bool, int]:
        """(every file of the shard there, bytes of it on disk)."""
        complete, real_bytes = real_copy(self.real_dir(node, card))
        if complete:
            return True, sum(size for _, size in shard.files(card))
        written = self.model_files(node, card.model_id)
        needed = shard.files(card)
        done = sum(min(size, written.get(name, 0)) for name, size in needed)
        return all(written.get(name, 0) >= size for name, size in needed), done + real_bytes

    def write(self, node: Node, card: ModelCard, shard: Shard, budget: int) -> int:
        """Write up to ``budget`` bytes into the shard's files, one after another."""
        written = self.model_files(node, card.model_id)
        used = 0
        for name, size in shard.files(card):
            step = min(size - written.get(name, 0), budget - used)
            if step > 0:
                written[name] = written.get(name, 0) + step
                used += step
        return used

    def delete(self, node: Node, card: ModelCard) -> None:
        self.files.setdefault(node.name, {}).pop(card.model_id, None)
        directory = self.real_dir(node, card)
        if directory.is_dir() and directory.parent == Path(node.models_dir):
            shutil.rmtree(directory, ignore_errors=True)

    def used_bytes(self, node: Node) -> int:
        return sum(sum(files.values()) for files in self.files.get(node.name, {}).values())


@dataclass
class Download:
    card: ModelCard
    shard: Shard
    status: str = "pending"  # pending, ongoing, completed or failed
    downloaded: int = 0
    total: int = 0
    this_session: int = 0
    speed: float = 0.0
    error: str = ""


class Downloads:
    """exo's view of the downloads: node id -> model id -> entry."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.disks = cluster.disks
        self.by_node: dict[str, dict[str, Download]] = {}

    def of(self, node: Node) -> dict[str, Download]:
        return self.by_node.setdefault(node.node_id, {})

    def forget(self, node: Node) -> None:
        self.by_node.pop(node.node_id, None)

    def scan(self, node: Node) -> None:
        """exo's look at its models directories: every card, complete or pending with the
        bytes already there. A completed entry stays completed even if its files went."""
        self.disks.seed(node, self.cluster.cards)
        entries = self.of(node)
        for card in self.cluster.cards.values():
            current = entries.get(card.model_id)
            if current is not None and current.status == "ongoing":
                continue
            whole = Shard.whole(card)
            complete, on_disk = self.disks.status(node, card, whole)
            if complete:
                entries[card.model_id] = Download(card, whole, "completed",
                                                  total=card.storage_bytes)
            elif current is None or current.status != "completed":
                entries[card.model_id] = Download(card, whole, "pending", downloaded=on_disk,
                                                  total=card.storage_bytes)
        self.cluster.touch()

    def start(self, node: Node, card: ModelCard, shard: Shard) -> None:
        """exo's StartDownload: nothing if the model is ongoing, complete or failed."""
        current = self.of(node).get(card.model_id)
        if current is not None and current.status in ("ongoing", "completed", "failed"):
            return
        complete, on_disk = self.disks.status(node, card, shard)
        total = sum(size for _, size in shard.files(card))
        status = "completed" if complete else "ongoing"
        self.of(node)[card.model_id] = Download(card, shard, status, downloaded=on_disk,
                                                total=total)
        if not complete:
            self.cluster.log(node, "download", f"Starting download of {card.model_id} to "
                             f"{node.models_dir}")
        self.cluster.touch()

    def cancel(self, node: Node, model_id: str) -> None:
        """exo's CancelDownload: back to pending, keeping the bytes."""
        entry = self.of(node).get(model_id)
        if entry is not None and entry.status == "ongoing":
            entry.status, entry.speed = "pending", 0.0
            self.cluster.log(node, "download", f"Download of {model_id} paused at "
                             f"{entry.downloaded} B")
            self.cluster.touch()

    def delete(self, node: Node, card: ModelCard) -> None:
        """exo's DeleteDownload: the files go, the entry is pending with nothing counted until
        the next rescan."""
        self.disks.delete(node, card)
        self.of(node)[card.model_id] = Download(card, Shard.whole(card), "pending")
        self.cluster.log(node, "download", f"Deleted {node.models_dir}/{card.dir_name}")
        self.cluster.touch()

    def fail(self, node: Node, model_id: str, message: str) -> None:
        card = self.cluster.cards[model_id]
        current = self.of(node).get(model_id)
        shard = current.shard if current is not None else Shard.whole(card)
        self.of(node)[model_id] = Download(card, shard, "failed", error=message)
        self.cluster.log(node, "download", f"Download of {model_id} failed: {message}", "ERROR")
        self.cluster.touch()

    def advance(self, elapsed: float) -> None:
        for node in self.cluster.live_nodes():
            for model_id, entry in self.of(node).items():
                if entry.status != "ongoing":
                    continue
                # A little jitter so the speed readout moves like a real one.
                entry.speed = (self.cluster.config.download_speed * self.cluster.speed
                               * node.rng.uniform(0.9, 1.1))
                step = self.disks.write(node, entry.card, entry.shard,
                                        max(1, round(entry.speed * elapsed)))
                entry.this_session += step
                complete, entry.downloaded = self.disks.status(node, entry.card, entry.shard)
                if complete:
                    entry.status, entry.speed = "completed", 0.0
                    self.cluster.log(node, "download", f"Download of {model_id} complete")
                self.cluster.touch()

    # -- rendering -------------------------------------------------------------------------

    def render(self, node: Node) -> list[dict[str, Any]]:
        return [self._entry(node, entry) for entry in self.of(node).values()]

    def _entry(self, node: Node, entry: Download) -> dict[str, Any]:
        card, shard = entry.card, entry.shard
        common: dict[str, Any] = {
            "nodeId": node.node_id,
            "shardMetadata": self.cluster.wire.shard(card, shard.sharding, shard.rank,
                                                     shard.world, shard.start, shard.end),
            "modelDirectory": f"{node.models_dir}/{card.dir_name}",
        }
        if entry.status == "completed":
            return {"DownloadCompleted": {**common, "total": {"inBytes": entry.total},
                                          "readOnly": False}}
        if entry.status == "failed":
            return {"DownloadFailed": {**common, "errorMessage": entry.error}}
        if entry.status == "pending":
            return {"DownloadPending": {**common, "downloaded": {"inBytes": entry.downloaded},
                                        "total": {"inBytes": entry.total}}}
        written = self.disks.model_files(node, card.model_id)
        files = shard.files(card)
        progress = _progress(entry.total, entry.downloaded, entry.this_session, entry.speed,
                             sum(1 for name, size in files if written.get(name, 0) >= size),
                             len(files))
        progress["files"] = {
            name: {**_progress(size, min(size, written.get(name, 0)),
                               min(size, written.get(name, 0), entry.this_session),
                               entry.speed, 1 if written.get(name, 0) >= size else 0, 1),
                   "files": {}}
            for name, size in files
        }
        return {"DownloadOngoing": {**common, "downloadProgress": progress}}


def _progress(total: int, done: int, session: int, speed: float, files_done: int,
              files_total: int) -> dict[str, Any]:
    return {
        "total": {"inBytes": total},
        "downloaded": {"inBytes": done},
        "downloadedThisSession": {"inBytes": session},
        "completedFiles": files_done,
        "totalFiles": files_total,
        "speed": speed,
        "etaMs": math.ceil((total - done) / speed * 1000) if speed > 0 else 0,
    }
