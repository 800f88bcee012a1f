"""The health checks' verdicts: observations in, outcomes out. No I/O, no clock, no Django.

Each function turns what was seen (exo's state, ibv_devinfo's output, MLX's facts, a model
directory's files) into an `Outcome` shaped like a stored `HealthResult`: pass, warn, fail, or
unavailable when the check could not be made, always with the evidence behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cluster_app.exo.state import ClusterView, NodeView
from cluster_app.nodes.live import (
    LIMIT_FRACTION,
    SAFE_FRACTION,
    InventoryNode,
    match_nodes,
    unknown_nodes,
)
from cluster_app.nodes.units import GIB, format_gib

PASS, WARN, FAIL, UNAVAILABLE = "pass", "warn", "fail", "unavailable"
CLUSTER = "cluster"

# name -> title, in the order the page lists them.
CHECKS: dict[str, str] = {
    "exo_api": "exo answers",
    "cluster_nodes": "Nodes and memory (the guide's /state check)",
    "memory_pressure": "Memory pressure",
    "rdma_device": "RDMA device (ibv_devinfo)",
    "mlx": "MLX and Metal",
    "model_files": "Model files of loaded models",
}
NODE_CHECKS = ("rdma_device", "mlx", "model_files")

# macOS keeps a little swap in use on a healthy Mac; a gigabyte or more means memory is short.
SWAP_WARN_BYTES = GIB
OUTPUT_LIMIT = 4000

HINT_START = "Start the cluster from the Cluster page, or check EXO_API_URL."
HINT_RDMA = ("RDMA is not enabled or the device is absent: run `rdma_ctl enable` in Recovery on "
             "{node}, then check with `ibv_devices`.")
HINT_PORT = ("Check the Thunderbolt 5 cable and that the other Mac is on; if the port stays "
             "down, reboot both Macs.")
HINT_MEMORY = ("Unload a model on the Cluster page or restart exo to free memory (the guide's "
               "Out of Memory steps).")


@dataclass(frozen=True)
class Outcome:
    name: str
    scope: str
    status: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    hint: str = ""


@dataclass(frozen=True)
class RunResult:
    """How a program run ended: its exit code and output, or that it timed out."""

    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False


def not_checked(name: str, scope: str, why: str, **evidence: Any) -> Outcome:
    return Outcome(name, scope, UNAVAILABLE, f"Not checked: {why}", dict(evidence))


def overall(statuses: Iterable[str]) -> str:
    """fail if any failed, else warn if any warned, else pass; "unknown" before any result.
    A check that could not be made does not make the whole cluster look unwell."""
    seen = set(statuses)
    if not seen:
        return "unknown"
    for status in (FAIL, WARN):
        if status in seen:
            return status
    return PASS


# --- exo and its /state --------------------------------------------------------------------

def exo_api(*, url: str, error: str | None, elapsed_ms: int | None = None,
            shape: str | None = None) -> Outcome:
    if error is not None:
        return Outcome("exo_api", CLUSTER, FAIL, f"exo is not answering at {url}",
                       {"url": url, "error": error}, HINT_START)
    return Outcome("exo_api", CLUSTER, PASS, f"exo answers at {url} ({elapsed_ms} ms)",
                   {"url": url, "elapsed_ms": elapsed_ms, "state_shape": shape})


def node_lines(view: ClusterView) -> list[str]:
    """The guide's `/state` snippet, as it prints: `Nodes: 2`, `  - ALPHA: 512 GB`."""
    return [f"Nodes: {len(view.nodes)}",
            *(f"  - {node.friendly_name}: {node.ram_total / GIB:.0f} GB" for node in view.nodes)]


def cluster_nodes(view: ClusterView, inventory: list[InventoryNode]) -> Outcome:
    """Every in-cluster inventory node must be in exo's state; a missing one fails."""
    expected = [node for node in inventory if node.in_exo_cluster]
    matched = match_nodes(view.nodes, expected)
    missing = [node.display_name for node in expected if node.name not in matched]
    unexpected = [v.friendly_name for v in unknown_nodes(view.nodes, expected)]
    evidence = {
        "shape": view.shape,
        "lines": node_lines(view),
        "nodes": [{"name": v.friendly_name, "node_id": v.node_id,
                   "ram_total_gb": round(v.ram_total / GIB, 1)} for v in view.nodes],
        "expected": [node.display_name for node in expected],
        "missing": missing,
        "unexpected": unexpected,
    }
    found = ", ".join(f"{v.friendly_name} {v.ram_total / GIB:.0f} GB" for v in view.nodes)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return Outcome("cluster_nodes", CLUSTER, FAIL,
                       f"{' and '.join(missing)} {verb} not in exo's cluster "
                       f"({len(matched)} of {len(expected)} nodes)", evidence,
                       f"Start exo on {', '.join(missing)} (Cluster page) and check the "
                       "Thunderbolt link; exo drops a node silent for 30 s.")
    if unexpected:
        return Outcome("cluster_nodes", CLUSTER, WARN,
                       f"exo reports node(s) not in the inventory: {', '.join(unexpected)}",
                       evidence, "Add them to the inventory (admin) or stop exo on them.")
    return Outcome("cluster_nodes", CLUSTER, PASS, f"{len(view.nodes)} nodes: {found}", evidence)


def memory_pressure(node: InventoryNode, view: NodeView | None) -> Outcome:
    """Against the guide's memory table: under 70% used is its safe operation zone, 92% its
    limit (OOM risk); a gigabyte or more of swap in use is a warning on its own."""
    if view is None:
        return not_checked("memory_pressure", node.name,
                           f"{node.display_name} is not in exo's state")
    if not view.ram_total:
        return not_checked("memory_pressure", node.name,
                           f"exo reports no memory figures for {node.display_name}")
    fraction = view.ram_used / view.ram_total
    swap_used = max(view.swap_total - view.swap_available, 0)
    evidence = {
        "ram_total_bytes": view.ram_total,
        "ram_available_bytes": view.ram_available,
        "used_fraction": round(fraction, 4),
        "swap_used_bytes": swap_used,
        "swap_total_bytes": view.swap_total,
        "thresholds": {"warn_fraction": SAFE_FRACTION, "fail_fraction": LIMIT_FRACTION,
                       "swap_warn_bytes": SWAP_WARN_BYTES},
    }
    used = (f"{node.display_name}: {format_gib(view.ram_used)} of {format_gib(view.ram_total)} "
            f"in use ({fraction:.0%})")
    if fraction >= LIMIT_FRACTION:
        return Outcome("memory_pressure", node.name, FAIL,
                       f"{used}, over the guide's 92% limit", evidence, HINT_MEMORY)
    if fraction >= SAFE_FRACTION:
        return Outcome("memory_pressure", node.name, WARN,
                       f"{used}, above the guide's 70% safe zone", evidence, HINT_MEMORY)
    if swap_used >= SWAP_WARN_BYTES:
        return Outcome("memory_pressure", node.name, WARN,
                       f"{used}, and {format_gib(swap_used)} of swap in use", evidence,
                       HINT_MEMORY)
    swap = f"{format_gib(swap_used)} swap" if swap_used else "no swap"
    return Outcome("memory_pressure", node.name, PASS, f"{used}; {swap}", evidence)


@dataclass(frozen=True)
class NeededModel:
    """A model an instance has placed on a node: exo's id, and its Hugging Face repo id when
    known (exo v1.0.60-63 named models by short ids that say nothing of the directory)."""

    model_id: str
    repo_id: str | None


def needed_models(view: ClusterView, names: dict[str, str],
                  repo_ids: dict[str, str]) -> dict[str, list[NeededModel]]:
    """Inventory node name -> the models its shards need. `names` maps exo node ids to
    inventory names; `repo_ids` maps exo's short model ids to repo ids (from exo's `/models`)."""
    needed: dict[str, list[NeededModel]] = {}
    for instance in view.instances:
        model_id = instance.model_id
        repo_id = model_id if "/" in model_id else repo_ids.get(model_id)
        for node_id in instance.node_ids:
            if (name := names.get(node_id)) is None:
                continue
            models = needed.setdefault(name, [])
            if all(m.model_id != model_id for m in models):
                models.append(NeededModel(model_id, repo_id))
    return needed


# --- on the node: ibv_devinfo ----------------------------------------------------------------

def parse_ibv_devinfo(text: str) -> list[dict[str, Any]]:
    """ibv_devinfo's report: one dict per device (`hca_id`, its attributes, `ports`), each port
    a dict of its attributes with `port` its number. Attributes after a `port:` line belong
    to that port, as ibv_devinfo prints them."""
    devices: list[dict[str, Any]] = []
    port: dict[str, Any] | None = None
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "hca_id":
            devices.append({"hca_id": value, "ports": []})
            port = None
        elif not devices:
            continue
        elif key == "port":
            port = {"port": int(value) if value.isdigit() else value}
            devices[-1]["ports"].append(port)
        elif port is not None:
            port[key] = value
        else:
            devices[-1][key] = value
    return devices


def port_state(port: dict[str, Any]) -> str:
    """`PORT_ACTIVE (4)` -> `PORT_ACTIVE`."""
    return str(port.get("state", "unknown")).split(" ")[0]


def rdma_device(*, node: InventoryNode, interface: str, program: str | None,
                command: list[str], result: RunResult | None, timeout: float,
                looked_for: list[str]) -> Outcome:
    """`ibv_devinfo -d <interface>` on the node: pass when a port of the device is active."""
    name, label = "rdma_device", node.display_name
    if not interface:
        return not_checked(name, node.name, f"no RDMA interface is set for {label} in the "
                                            "inventory")
    if program is None or result is None:
        return Outcome(name, node.name, UNAVAILABLE, f"ibv_devinfo not found on {label}",
                       {"looked_for": looked_for},
                       "ibv_devinfo comes with macOS 26.2 and later at /usr/bin/ibv_devinfo; "
                       "set IBV_DEVINFO_PATH if it lives elsewhere.")
    evidence: dict[str, Any] = {"command": command, "returncode": result.returncode,
                                "output": result.stdout[-OUTPUT_LIMIT:],
                                "stderr": result.stderr[-OUTPUT_LIMIT:]}
    if result.timed_out:
        return Outcome(name, node.name, FAIL,
                       f"ibv_devinfo -d {interface} did not finish within {timeout:g} s",
                       evidence, HINT_RDMA.format(node=label))
    devices = parse_ibv_devinfo(result.stdout)
    device = next((d for d in devices if d["hca_id"] == interface), None)
    if result.returncode != 0 or device is None:
        said = (result.stderr or result.stdout).strip().splitlines()
        if result.returncode == 0:
            detail = f": it lists {', '.join(d['hca_id'] for d in devices) or 'no device'}"
        else:
            detail = f": {said[-1]}" if said else f" (exit code {result.returncode})"
        return Outcome(name, node.name, FAIL, f"{interface} not found by ibv_devinfo on "
                                              f"{label}{detail}", evidence,
                       HINT_RDMA.format(node=label))
    states = [port_state(port) for port in device["ports"]]
    evidence.update(hca_id=device["hca_id"], fw_ver=device.get("fw_ver"),
                    transport=device.get("transport"), node_guid=device.get("node_guid"),
                    ports=device["ports"])
    if "PORT_ACTIVE" in states:
        return Outcome(name, node.name, PASS, f"{interface}: PORT_ACTIVE", evidence)
    shown = ", ".join(states) or "no port listed"
    return Outcome(name, node.name, FAIL, f"{interface}: {shown}", evidence, HINT_PORT)


# --- on the node: MLX ------------------------------------------------------------------------

def mlx(*, node: InventoryNode, facts: dict[str, Any] | None, error: str | None) -> Outcome:
    """MLX must load, and exo needs Metal: without it the node computes on the CPU, which is
    reported as a warning with the facts, never as a pass."""
    if facts is None:
        return Outcome("mlx", node.name, FAIL, f"MLX could not be loaded on {node.display_name}",
                       {"error": error or "no answer"},
                       "Install mlx in the worker's environment (`pip install mlx` on macOS).")
    version = facts.get("mlx_version", "?")
    info = facts.get("device_info") or {}
    if facts.get("metal_available"):
        memory = info.get("memory_size")
        size = f", {format_gib(memory)}" if isinstance(memory, int) else ""
        device = info.get("device_name") or info.get("architecture") or "GPU"
        return Outcome("mlx", node.name, PASS,
                       f"Metal available: {device}{size}; MLX {version}", facts)
    return Outcome("mlx", node.name, WARN,
                   f"Metal is not available on {node.display_name}: MLX {version} runs on "
                   f"{facts.get('default_device', 'the CPU')} only", facts,
                   "exo needs Metal on Apple silicon: run this node's worker on the Mac itself.")


# --- on the node: model files ----------------------------------------------------------------

def model_files(*, node: InventoryNode, needed: list[NeededModel] | None, why_unknown: str,
                found: dict[str, dict[str, Any]]) -> Outcome:
    """Each model with a shard on the node must have its directory, config and weights there.
    `found` maps repo ids to what the node saw in `<models dir>/<org>--<name>/`."""
    name, label = "model_files", node.display_name
    if needed is None:
        return not_checked(name, node.name, why_unknown)
    if not needed:
        return Outcome(name, node.name, PASS, f"No loaded model has a shard on {label}",
                       {"models": []})
    problems = []
    for model in needed:
        if model.repo_id is None:
            problems.append(f"{model.model_id}: exo does not say which repository it is")
            continue
        seen = found.get(model.repo_id) or {}
        if not seen.get("exists"):
            problems.append(f"{model.repo_id}: no directory {seen.get('path', '')}")
        elif not seen.get("weights"):
            problems.append(f"{model.repo_id}: no weight files in {seen.get('path')}")
        elif seen.get("missing"):
            problems.append(f"{model.repo_id}: {len(seen['missing'])} weight file(s) missing")
        elif not seen.get("config"):
            problems.append(f"{model.repo_id}: no config.json")
    evidence = {"models": [{"model_id": m.model_id, "repo_id": m.repo_id,
                            **found.get(m.repo_id or "", {})} for m in needed],
                "problems": problems}
    if problems:
        return Outcome(name, node.name, FAIL, f"{len(problems)} of {len(needed)} model(s) "
                                              f"incomplete on {label}: {problems[0]}", evidence,
                       f"Download the model to {label} from the Downloads page; exo loads it "
                       "from <models dir>/<org>--<name>/.")
    listed = ", ".join(m.repo_id or m.model_id for m in needed)
    return Outcome(name, node.name, PASS, f"Present on {label}: {listed}", evidence)


def no_answer(node: InventoryNode, queue: str, timeout: float) -> list[Outcome]:
    """The node's checks when its worker did not answer in time."""
    summary = f"No worker answered on {queue} within {timeout:g} s"
    hint = (f"Start a control worker on {node.display_name} that consumes {queue} (-Q control "
            f"with WORKER_NODES={node.name}); if one runs, its slots may all be busy "
            "(CONTROL_CONCURRENCY).")
    return [Outcome(name, node.name, FAIL, summary, {"queue": queue, "timeout_s": timeout}, hint)
            for name in NODE_CHECKS]
