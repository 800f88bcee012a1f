"""What a node's worker observes for the health checks: its RDMA device through ibv_devinfo,
MLX and Metal, and the files of the models its shards need. Runs on the node's own queue."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

from cluster_app.health import checks
from cluster_app.health.checks import NeededModel, Outcome, RunResult
from cluster_app.models import Node
from cluster_app.nodes.poll import inventory_node

# Both together stay inside the time a run waits for a node (health.NODE_ANSWER_SECONDS).
IBV_TIMEOUT = 10.0
MLX_TIMEOUT = 15.0
INDEX_FILE = "model.safetensors.index.json"


def run(command: list[str], timeout: float, cwd: Path | None = None) -> RunResult:
    """Run an argument list without a shell; a run past `timeout` is killed."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        return RunResult(None, _text(exc.stdout), _text(exc.stderr), timed_out=True)
    except OSError as exc:
        return RunResult(None, "", str(exc))
    return RunResult(done.returncode, done.stdout, done.stderr)


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def find_program(configured: str) -> tuple[str | None, list[str]]:
    """The configured program when it is there, else a program of the same name on PATH;
    returns it (or None) and where it was looked for."""
    path = Path(configured).expanduser()
    looked_for = [str(path), f"{path.name} on PATH"]
    if path.is_file() and os.access(path, os.X_OK):
        return str(path), looked_for
    return shutil.which(path.name), looked_for


def probe_rdma(node: Node) -> Outcome:
    interface = node.rdma_interface
    program, looked_for = find_program(settings.IBV_DEVINFO_PATH)
    command = [program or "ibv_devinfo", "-d", interface]
    result = run(command, IBV_TIMEOUT) if program and interface else None
    return checks.rdma_device(node=inventory_node(node), interface=interface, program=program,
                              command=command, result=result, timeout=IBV_TIMEOUT,
                              looked_for=looked_for)


def probe_mlx(node: Node) -> Outcome:
    result = run([sys.executable, "-m", "cluster_app.health.mlx_facts"], MLX_TIMEOUT,
                 cwd=settings.BASE_DIR)
    facts, error = None, None
    if result.timed_out:
        error = f"MLX did not answer within {MLX_TIMEOUT:g} s"
    elif result.returncode != 0:
        error = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
    else:
        try:
            facts = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            error = f"unreadable answer: {result.stdout[-300:]!r}"
    return checks.mlx(node=inventory_node(node), facts=facts, error=error)


def inspect_model_dir(path: Path) -> dict[str, Any]:
    """What is in a model directory: config, weight files, and weight files its index names
    that are not there."""
    if not path.is_dir():
        return {"path": str(path), "exists": False}
    weights = sorted(p for p in path.glob("*.safetensors") if p.is_file())
    names = {p.name for p in weights}
    missing: list[str] = []
    if (index := path / INDEX_FILE).is_file():
        try:
            listed = set(json.loads(index.read_text()).get("weight_map", {}).values())
        except (ValueError, OSError, AttributeError):
            listed = set()
        missing = sorted(listed - names)
    return {"path": str(path), "exists": True, "config": (path / "config.json").is_file(),
            "weights": sorted(names), "weight_bytes": sum(p.stat().st_size for p in weights),
            "missing": missing}


def probe_model_files(node: Node, needed: list[NeededModel] | None) -> Outcome:
    found = {m.repo_id: inspect_model_dir(node.model_path(m.repo_id))
             for m in needed or [] if m.repo_id}
    return checks.model_files(node=inventory_node(node), needed=needed, found=found,
                              why_unknown="exo's state could not be read, so which models "
                                          "this node needs is unknown")


def node_probe(node: Node, needed: list[NeededModel] | None) -> list[Outcome]:
    """Every node-level check, as seen from this worker."""
    return [probe_rdma(node), probe_mlx(node), probe_model_files(node, needed)]
