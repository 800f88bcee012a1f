"""The simulated cluster's mutable state: nodes, instances, downloads and the knobs that time them.

Everything runs on the server's one event loop, so nothing here needs a lock.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .catalogue import CATALOGUE, GIB, ModelCard
from .config import NodeSpec, SimConfig
from .logs import Logbook
from .telemetry import IDLE

# macOS, the window server and exo itself keep this share of RAM busy on an idle Mac.
BASELINE_USED_SHARE = 0.04


@dataclass
class Node:
    spec: NodeSpec
    node_id: str
    models_dir: str
    rng: random.Random
    alive: bool = True
    dropped_at: float | None = None
    last_seen: datetime = field(default_factory=lambda: datetime.now(UTC))
    reserved: dict[str, int] = field(default_factory=dict)  # instance id -> bytes held
    system: dict[str, float] = field(default_factory=lambda: dict(IDLE))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ram_total(self) -> int:
        return round(self.spec.memory_gib * GIB)

    @property
    def ram_available(self) -> int:
        baseline = round(self.ram_total * BASELINE_USED_SHARE)
        return max(0, self.ram_total - baseline - sum(self.reserved.values()))


@dataclass
class Instance:
    """An instance exactly as exo tags it, plus the simulator's bookkeeping about it."""

    tagged: dict[str, Any]
    created_at: float
    load_time: float
    failed: dict[str, str] = field(default_factory=dict)  # runner id -> error message
    generating: int = 0
    phases: dict[str, str] = field(default_factory=dict)  # runner id -> last status logged

    @property
    def meta(self) -> str:
        return next(iter(self.tagged))

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.tagged[self.meta]
        return body

    @property
    def instance_id(self) -> str:
        return str(self.body["instanceId"])

    @property
    def model_id(self) -> str:
        return str(self.body["shardAssignments"]["modelId"])

    @property
    def node_to_runner(self) -> dict[str, str]:
        mapping: dict[str, str] = self.body["shardAssignments"]["nodeToRunner"]
        return mapping

    def shard_of(self, runner_id: str) -> dict[str, Any]:
        """The shard's fields, whatever its tag."""
        tagged: dict[str, Any] = self.body["shardAssignments"]["runnerToShard"][runner_id]
        shard: dict[str, Any] = next(iter(tagged.values()))
        return shard


@dataclass
class Download:
    """One model on one node. ``status`` is pending, ongoing, completed or failed."""

    model: ModelCard
    status: str = "pending"
    downloaded: int = 0
    this_session: int = 0
    speed: float = 0.0
    error: str = ""


class Cluster:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.speed = config.speed
        self.load_time = config.load_time
        self.node_timeout = config.node_timeout
        # Answer length when set (still capped by max_tokens); None: each prompt's own length.
        self.answer_tokens: int | None = None
        self.model_speeds = dict(config.model_speeds)
        self.fail_load = set(config.fail_load)
        self.rng = random.Random(config.seed)
        self.logbook = Logbook(config.log_dir)
        self.nodes: list[Node] = []
        self.instances: dict[str, Instance] = {}
        self.downloads: dict[str, dict[str, Download]] = {}  # node name -> model id -> state
        self.event_idx = 0
        self.started = time.monotonic()
        for spec in [] if config.stopped else config.nodes:
            self.start_node(spec)

    # -- nodes ---------------------------------------------------------------------------

    def start_node(self, spec: NodeSpec) -> Node:
        """Start exo on a machine: a fresh id, full memory, downloads found on its disk."""
        node = Node(
            spec=spec,
            node_id=str(uuid.uuid4()),
            models_dir=self.config.models_dir_for(spec),
            rng=random.Random(self.rng.random()),
        )
        self.nodes.append(node)
        # Files outlive the process: a restarted node keeps what it had downloaded.
        if spec.name not in self.downloads:
            present = self.config.downloaded_on(spec) | self._found_on_disk(node.models_dir)
            self.downloads[spec.name] = {
                model_id: Download(
                    model=card,
                    status="completed" if model_id in present else "pending",
                    downloaded=card.storage_bytes if model_id in present else 0,
                )
                for model_id, card in CATALOGUE.items()
            }
        self.log(node, "main", f"pid = {os.getpid()}")
        self.log(node, "main", f"Starting exo on {spec.hostname} with node id {node.node_id}")
        self.log(node, "election", f"Node {node.node_id} ({spec.name}) joined the cluster")
        self.touch()
        return node

    @staticmethod
    def _found_on_disk(models_dir: str) -> set[str]:
        # A model the panel already put where exo looks counts as downloaded.
        root = Path(models_dir)
        return {
            model_id for model_id, card in CATALOGUE.items() if (root / card.dir_name).is_dir()
        }

    def live_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.alive]

    def node_by_id(self, node_id: str) -> Node | None:
        return next((node for node in self.nodes if node.node_id == node_id), None)

    def node_by_name(self, name: str) -> Node | None:
        """The newest node of that name: after a restart the old id may linger until timeout."""
        matches = [node for node in self.nodes if node.name.lower() == name.lower()]
        return matches[-1] if matches else None

    def spec_by_name(self, name: str) -> NodeSpec | None:
        return next((s for s in self.config.nodes if s.name.lower() == name.lower()), None)

    def drop_node(self, node: Node) -> None:
        node.alive = False
        node.dropped_at = time.monotonic()
        for download in self.downloads[node.name].values():
            if download.status == "ongoing":
                download.status, download.speed = "pending", 0.0
        self.log(node, "main", "Received SIGTERM, shutting down", level="WARNING")
        self.touch()

    def remove_node(self, node: Node) -> None:
        """What the master does once a node has been silent for the timeout."""
        self.nodes.remove(node)
        for instance in [i for i in self.instances.values() if node.node_id in i.node_to_runner]:
            self.delete_instance(instance)
        for other in self.live_nodes():
            self.log(other, "master", f"Node {node.node_id} timed out, removing it", "WARNING")
        self.touch()

    # -- instances -----------------------------------------------------------------------

    def add_instance(self, tagged: dict[str, Any]) -> Instance:
        instance = Instance(tagged=tagged, created_at=time.monotonic(), load_time=self.load_time)
        self.instances[instance.instance_id] = instance
        for node_id, share in memory_split(self.model(instance.model_id), instance).items():
            node = self.node_by_id(node_id)
            if node is not None:
                node.reserved[instance.instance_id] = share
        for node_id in instance.node_to_runner:
            node = self.node_by_id(node_id)
            if node is not None:
                self.log(node, "master", f"Instance {instance.instance_id} created "
                         f"({instance.meta}, {instance.model_id})")
        self.touch()
        return instance

    def delete_instance(self, instance: Instance) -> None:
        self.instances.pop(instance.instance_id, None)
        for node in self.nodes:
            if node.reserved.pop(instance.instance_id, None) is not None:
                self.log(node, "runner", f"Shutting down runner for {instance.model_id}")
        self.touch()

    def instance_for_runner(self, runner_id: str) -> Instance | None:
        return next(
            (i for i in self.instances.values() if runner_id in i.node_to_runner.values()), None
        )

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def model(model_id: str) -> ModelCard:
        return CATALOGUE[model_id]

    def tokens_per_second(self, card: ModelCard) -> float:
        return self.model_speeds.get(card.model_id, card.tokens_per_second) * self.speed

    def total_available(self) -> int:
        return sum(node.ram_available for node in self.live_nodes())

    def log(self, node: Node, kind: str, message: str, level: str = "INFO") -> None:
        self.logbook.write(node.name, kind, message, level)

    def touch(self) -> None:
        """Count an applied event, as exo's lastEventAppliedIdx does."""
        self.event_idx += 1


def memory_split(card: ModelCard, instance: Instance) -> dict[str, int]:
    """The model's bytes split evenly across the instance's nodes, as exo's previews show it."""
    return even_split(card.storage_bytes, list(instance.node_to_runner))


def even_split(total: int, node_ids: list[str]) -> dict[str, int]:
    ordered = sorted(node_ids)
    per_node, remainder = divmod(total, len(ordered))
    return {node_id: per_node + (1 if i < remainder else 0) for i, node_id in enumerate(ordered)}
