"""The simulated cluster's mutable state: nodes, model cards, instances and their runners,
downloads, the simulated disks, and the knobs that time them.

Everything runs on the server's one event loop, so nothing here needs a lock.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import speed
from .catalogue import BUILT_IN, GIB, ModelCard, speed_of
from .config import NodeSpec, SimConfig
from .downloads import Disks, Downloads
from .logs import Logbook
from .telemetry import IDLE
from .wire import Wire

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
class Runner:
    runner_id: str
    node_id: str
    tagged_shard: dict[str, Any]
    # exo's status without its "Runner" prefix; empty while the runner process starts.
    status: str = ""
    layers_loaded: int = 0
    error: str = ""
    diagnostics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def shard(self) -> dict[str, Any]:
        body: dict[str, Any] = next(iter(self.tagged_shard.values()))
        return body

    @property
    def layers(self) -> int:
        return int(self.shard["endLayer"]) - int(self.shard["startLayer"])


@dataclass
class Instance:
    """An instance exactly as exo tags it, plus the simulator's bookkeeping about it."""

    tagged: dict[str, Any]
    card: ModelCard
    phase: str
    phase_since: float
    runners: dict[str, Runner] = field(default_factory=dict)
    generating: int = 0
    attempts: int = 1  # runner creations so far, as exo's instance backoff counts them

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

    @property
    def sharding(self) -> str:
        """"Tensor" or "Pipeline", as the runners' shard metadata is tagged."""
        shard = next(iter(self.body["shardAssignments"]["runnerToShard"].values()))
        return "Tensor" if "TensorShardMetadata" in shard else "Pipeline"

    @property
    def backend(self) -> str:
        """"MlxRing" or "MlxJaccl": the instance's tag without its suffix."""
        return self.meta.removesuffix("Instance")

    @property
    def ready(self) -> bool:
        return self.phase == "ready"

    @property
    def failed(self) -> Runner | None:
        return next((r for r in self.runners.values() if r.status == "Failed"), None)


class Cluster:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.wire = Wire(config.exo_version)
        self.speed = config.speed
        self.load_time = config.load_time
        self.node_timeout = config.node_timeout
        self.rescan_interval = config.rescan_interval
        self.retry_backoff = config.retry_backoff
        # Answer length when set (still capped by max_tokens); None: each prompt's own length.
        self.answer_tokens: int | None = None
        # A canned answer instead of the filler words, and reasoning streamed before it
        # (reasoning_content, as exo streams a thinking model's); empty: none.
        self.answer_text = ""
        self.reasoning_text = ""
        self.model_speeds = dict(config.model_speeds)
        self.overheads = dict(speed.OVERHEADS)
        self.fail_load = set(config.fail_load)
        self.rng = random.Random(config.seed)
        self.logbook = Logbook(config.log_dir)
        self.nodes: list[Node] = []
        self.cards: dict[str, ModelCard] = dict(BUILT_IN)
        # Cards added with POST /models/add, which main's /state lists as customModelCards.
        self.shared_cards: set[str] = set()
        self.instances: dict[str, Instance] = {}
        # Runners shutting down after their instance went: runner id -> (node id, gone at).
        self.retired: dict[str, tuple[str, float]] = {}
        self.event_idx = 0
        self.started = time.monotonic()
        self.created = int(time.time())
        self.disks = Disks(config)
        self.downloads = Downloads(self)
        for spec in [] if config.stopped else config.nodes:
            self.start_node(spec)

    # -- nodes ---------------------------------------------------------------------------

    def start_node(self, spec: NodeSpec) -> Node:
        """Start exo on a machine: a fresh id, full memory, downloads found on its disk."""
        node = Node(
            spec=spec,
            node_id=self.wire.new_node_id(self.rng),
            models_dir=self.config.models_dir_for(spec),
            rng=random.Random(self.rng.random()),
        )
        self.nodes.append(node)
        self.downloads.scan(node)
        self.log(node, "main", f"pid = {os.getpid()}")
        self.log(node, "main", f"Starting exo on {spec.hostname} with node id {node.node_id}")
        self.log(node, "election", f"Node {node.node_id} ({spec.name}) joined the cluster")
        self.touch()
        return node

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
        """The exo process stops; the master keeps what it last heard until the timeout."""
        node.alive = False
        node.dropped_at = time.monotonic()
        self.log(node, "main", "Received SIGTERM, shutting down", level="WARNING")
        self.touch()

    def remove_node(self, node: Node) -> None:
        """What the master does once a node has been silent for the timeout."""
        self.nodes.remove(node)
        self.downloads.forget(node)
        for instance in [i for i in self.instances.values() if node.node_id in i.node_to_runner]:
            self.delete_instance(instance)
        for other in self.live_nodes():
            self.log(other, "master", f"Node {node.node_id} timed out, removing it", "WARNING")
        self.touch()

    def restart_all(self) -> None:
        """Every exo process restarts at once (a version change): new ids, no instances."""
        for instance in list(self.instances.values()):
            self.delete_instance(instance)
        self.retired.clear()
        specs = [node.spec for node in self.live_nodes()]
        for node in list(self.nodes):
            self.nodes.remove(node)
            self.downloads.forget(node)
        for spec in specs:
            self.start_node(spec)

    # -- cards ---------------------------------------------------------------------------

    def card(self, model_id: str) -> ModelCard | None:
        return self.cards.get(model_id)

    def add_card(self, card: ModelCard) -> None:
        self.cards[card.model_id] = card
        self.touch()

    def remove_card(self, model_id: str) -> None:
        self.cards.pop(model_id, None)
        self.shared_cards.discard(model_id)
        if model_id in BUILT_IN:
            self.cards[model_id] = BUILT_IN[model_id]
        self.touch()

    # -- instances -----------------------------------------------------------------------

    def add_instance(self, tagged: dict[str, Any], card: ModelCard) -> Instance:
        instance = Instance(tagged=tagged, card=card, phase="spawning",
                            phase_since=time.monotonic())
        assignments = instance.body["shardAssignments"]
        for node_id, runner_id in instance.node_to_runner.items():
            instance.runners[runner_id] = Runner(runner_id, node_id,
                                                 assignments["runnerToShard"][runner_id])
        self.instances[instance.instance_id] = instance
        for node_id, share in memory_split(card, instance).items():
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
        """exo forgets the instance at once; its runners shut down for a moment longer."""
        self.instances.pop(instance.instance_id, None)
        gone_at = time.monotonic() + self.shutdown_seconds
        for runner in instance.runners.values():
            if runner.status:
                self.retired[runner.runner_id] = (runner.node_id, gone_at)
        for node in self.nodes:
            if node.reserved.pop(instance.instance_id, None) is not None:
                self.log(node, "runner", f"Shutting down runner for {instance.model_id}")
        self.touch()

    def instance_for_runner(self, runner_id: str) -> Instance | None:
        return next((i for i in self.instances.values() if runner_id in i.runners), None)

    # -- helpers -------------------------------------------------------------------------

    @property
    def shutdown_seconds(self) -> float:
        # A runner takes a moment to stop; a tenth of the load time keeps it in view.
        return self.load_time * 0.1

    def tokens_per_second(self, card: ModelCard) -> float:
        """The model's generation speed on one node."""
        return self.model_speeds.get(card.model_id, speed_of(card)[0]) * self.speed

    def first_token_seconds(self, card: ModelCard) -> float:
        """The model's fixed start before its first token on one node, whatever the prompt."""
        return speed_of(card)[1] / self.speed

    def efficiency(self, instance: Instance) -> float:
        return speed.efficiency(instance.sharding, instance.backend,
                                len(instance.node_to_runner), self.overheads)

    def prefill_seconds(self, instance: Instance, prompt_tokens: int) -> float:
        card = instance.card
        return speed.prefill_seconds(prompt_tokens, self.tokens_per_second(card),
                                     self.first_token_seconds(card), self.efficiency(instance))

    def generation_rate(self, instance: Instance) -> float:
        return speed.generation_rate(self.tokens_per_second(instance.card),
                                     self.efficiency(instance))

    def total_available(self) -> int:
        return sum(node.ram_available for node in self.live_nodes())

    def log(self, node: Node, kind: str, message: str, level: str = "INFO") -> None:
        self.logbook.write(node.name, kind, message, level)

    def touch(self) -> None:
        """Count an applied event, as exo's lastEventAppliedIdx does."""
        self.event_idx += 1


def new_id() -> str:
    return str(uuid.uuid4())


def memory_split(card: ModelCard, instance: Instance) -> dict[str, int]:
    """The model's bytes split evenly across the instance's nodes, as exo's previews show it."""
    return even_split(card.storage_bytes, list(instance.node_to_runner))


def even_split(total: int, node_ids: list[str]) -> dict[str, int]:
    ordered = sorted(node_ids)
    per_node, remainder = divmod(total, len(ordered))
    return {node_id: per_node + (1 if i < remainder else 0) for i, node_id in enumerate(ordered)}
