"""Simulator configuration: node specs and timings, from the command line or built by tests."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .catalogue import BUILT_IN, RECOMMENDED
from .wire import MAIN

DEFAULT_HF_ENDPOINT = "https://huggingface.co"


@dataclass
class NodeSpec:
    """One machine of the cluster; ids are not here because exo makes a new one at every start."""

    name: str
    memory_gib: float
    ip: str
    rdma_iface: str
    disk_gib: float = 2048.0
    model: str = "Mac Studio"
    chip: str = "Apple M3 Ultra"
    rdma_enabled: bool = True
    models_dir: str = ""
    # The Mac's ComputerName, exo's friendlyName; the simulator's name for the node otherwise.
    friendly_name: str = ""

    @property
    def display_name(self) -> str:
        return self.friendly_name or self.name

    @property
    def hostname(self) -> str:
        return f"{self.name.lower()}.local"

    @property
    def ipv6(self) -> str:
        """A link-local IPv6 address for en0, stable for the machine."""
        digest = hashlib.sha256(self.hostname.encode()).hexdigest()
        return "fe80::" + ":".join(digest[i:i + 4].lstrip("0") or "0" for i in range(0, 16, 4))

    @property
    def thunderbolt_domain(self) -> str:
        # Hardware keeps its Thunderbolt domain across exo restarts, unlike the node id.
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, self.hostname)).upper()


@dataclass
class SimConfig:
    nodes: list[NodeSpec] = field(default_factory=lambda: default_nodes())
    host: str = "127.0.0.1"
    port: int = 52415
    log_dir: Path = Path("var/exo-sim/logs")
    models_base: Path | None = None
    load_time: float = 6.0
    speed: float = 1.0
    node_timeout: float = 30.0
    tick: float = 0.25
    download_speed: float = 150e6  # bytes/s: 378 GiB in about 45 min, as the guide expects
    model_speeds: dict[str, float] = field(default_factory=dict)
    downloaded: dict[str, list[str]] = field(default_factory=dict)  # model id -> node names
    latency: float = 0.0
    error_rate: float = 0.0
    drop_nodes: list[tuple[str, float]] = field(default_factory=list)
    fail_load: set[str] = field(default_factory=set)
    seed: int | None = None
    # Start with every node down, for node agents (`python -m simulators.exo.node`) to bring up.
    stopped: bool = False
    exo_version: str = MAIN
    # Where POST /models/add, /models/search and unknown model ids go, as exo's HF_ENDPOINT.
    hf_endpoint: str = field(
        default_factory=lambda: os.environ.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT)
    hf_token: str = field(default_factory=lambda: os.environ.get("HF_TOKEN", ""))
    rescan_interval: float = 60.0  # exo looks at its models directories this often
    retry_backoff: float = 0.5  # exo's first wait before re-creating a failed runner

    def models_dir_for(self, spec: NodeSpec) -> str:
        if spec.models_dir:
            return spec.models_dir
        if self.models_base is not None:
            return str(self.models_base / spec.name.lower())
        return f"/Users/{spec.name.lower()}/.exo/models"

    def downloaded_on(self, spec: NodeSpec) -> set[str]:
        """Model ids present on the node at start (default: the guide's four, everywhere)."""
        if not self.downloaded:
            return set(RECOMMENDED)
        return {
            model_id
            for model_id, names in self.downloaded.items()
            if not names or spec.name in names
        }


def default_nodes() -> list[NodeSpec]:
    """The cluster guide's two Mac Studios, ALPHA (master) first."""
    return [
        NodeSpec("ALPHA", 512, ip="192.168.1.10", rdma_iface="rdma_en3", disk_gib=4096),
        NodeSpec("BETA", 256, ip="192.168.1.20", rdma_iface="rdma_en4", disk_gib=2048),
    ]


_NODE_KEYS = {"ip", "rdma", "disk", "chip", "model", "models_dir", "rdma_ctl", "friendly"}


def parse_node(text: str, index: int) -> NodeSpec:
    """Parse ``NAME:GiB[:key=value,...]``; keys are ip, rdma, disk, chip, model, models_dir,
    rdma_ctl (on|off), friendly (the friendlyName)."""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0]:
        raise ValueError(f"node must be NAME:GiB[:key=value,...], got {text!r}")
    spec = NodeSpec(
        name=parts[0],
        memory_gib=float(parts[1]),
        ip=f"192.168.1.{10 * (index + 1)}",
        rdma_iface=f"rdma_en{3 + index}",
    )
    extras = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    for item in extras:
        key, sep, value = item.partition("=")
        if not sep or key not in _NODE_KEYS:
            raise ValueError(f"unknown node field {item!r}; known: {sorted(_NODE_KEYS)}")
        if key == "ip":
            spec.ip = value
        elif key == "rdma":
            spec.rdma_iface = value
        elif key == "disk":
            spec.disk_gib = float(value)
        elif key == "chip":
            spec.chip = value
        elif key == "model":
            spec.model = value
        elif key == "models_dir":
            spec.models_dir = value
        elif key == "friendly":
            spec.friendly_name = value
        else:
            spec.rdma_enabled = value.lower() not in {"off", "false", "0", "no"}
    return spec


def parse_model_speed(text: str) -> tuple[str, float]:
    """Parse ``MODEL_ID=TOKENS_PER_SECOND``."""
    model_id, sep, value = text.rpartition("=")
    if not sep or model_id not in BUILT_IN:
        raise ValueError(f"model speed must be <catalogue model id>=<tok/s>, got {text!r}")
    return model_id, float(value)


def parse_downloaded(text: str) -> tuple[str, str | None]:
    """Parse ``MODEL_ID`` or ``MODEL_ID@NODE``."""
    model_id, _, node = text.partition("@")
    if model_id not in BUILT_IN:
        raise ValueError(f"unknown model {model_id!r}")
    return model_id, node or None


def parse_drop(text: str) -> tuple[str, float]:
    """Parse ``NAME`` or ``NAME@SECONDS`` (seconds after start)."""
    name, _, after = text.partition("@")
    return name, float(after or 0)
