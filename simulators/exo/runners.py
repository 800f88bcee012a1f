"""Runner lifecycles: the state each runner is in, derived from the time since its instance was
created, and the log lines exo writes as runners move on."""

from __future__ import annotations

import json
import secrets
from typing import Any

from .cluster import Cluster, Instance

SEGFAULT = "Runner terminated with signal=11 (Segmentation fault: 11)"

# Share of the load time at which each phase ends. Single-node instances skip Connecting.
CONNECTING_END = 0.1
LOADING_END = 0.7
LOADED_END = 0.8


def runner_status(instance: Instance, runner_id: str, now: float) -> dict[str, Any]:
    """The tagged runner status exo would report right now."""
    if runner_id in instance.failed:
        return {"RunnerFailed": {"errorMessage": instance.failed[runner_id]}}
    shard = instance.shard_of(runner_id)
    multi = shard["worldSize"] > 1
    progress = (now - instance.created_at) / instance.load_time if instance.load_time > 0 else 1.0
    loading_start = CONNECTING_END if multi else 0.0
    if progress < loading_start:
        return {"RunnerConnecting": {}}
    if progress < LOADING_END:
        total = shard["endLayer"] - shard["startLayer"]
        share = (progress - loading_start) / (LOADING_END - loading_start)
        return {"RunnerLoading": {"layersLoaded": int(total * share), "totalLayers": total}}
    if progress < LOADED_END:
        return {"RunnerLoaded": {}}
    if progress < 1.0:
        return {"RunnerWarmingUp": {}}
    return {"RunnerRunning": {}} if instance.generating else {"RunnerReady": {}}


def is_ready(instance: Instance, now: float) -> bool:
    """Usable for chat: every runner Ready or Running."""
    return all(
        next(iter(runner_status(instance, runner_id, now))) in ("RunnerReady", "RunnerRunning")
        for runner_id in instance.node_to_runner.values()
    )


def all_statuses(cluster: Cluster, now: float) -> dict[str, dict[str, Any]]:
    return {
        runner_id: runner_status(instance, runner_id, now)
        for instance in cluster.instances.values()
        for runner_id in instance.node_to_runner.values()
    }


def fail_runner(cluster: Cluster, instance: Instance, runner_id: str) -> None:
    """The JACCL receive timeout that takes a runner down with a segfault."""
    instance.failed[runner_id] = SEGFAULT
    node = cluster.node_by_id(_node_of(instance, runner_id))
    if node is not None:
        cluster.log(node, "runner", "RuntimeError: [jaccl] Recv failed with errno=60", "ERROR")
        cluster.log(node, "runner", SEGFAULT, "ERROR")
    cluster.touch()


PHASES = ("RunnerConnecting", "RunnerLoading", "RunnerLoaded", "RunnerWarmingUp", "RunnerReady")


def advance(cluster: Cluster, now: float) -> None:
    """Fail loads the user asked to fail, then log every phase each runner went through,
    including any a slow tick stepped over."""
    for instance in list(cluster.instances.values()):
        for node_id, runner_id in instance.node_to_runner.items():
            phase = next(iter(runner_status(instance, runner_id, now)))
            if (
                instance.model_id in cluster.fail_load
                and phase == "RunnerLoading"
                and not instance.failed
            ):
                fail_runner(cluster, instance, runner_id)
                continue
            if phase == "RunnerFailed":
                continue
            reached = PHASES.index("RunnerReady" if phase == "RunnerRunning" else phase)
            last = instance.phases.get(runner_id)
            first = PHASES.index(last) + 1 if last else 0
            if instance.shard_of(runner_id)["worldSize"] == 1:
                first = max(first, 1)  # one node has nobody to connect to
            node = cluster.node_by_id(node_id)
            for passed in PHASES[first:reached + 1]:
                instance.phases[runner_id] = passed
                if node is not None:
                    for line in _phase_lines(cluster, instance, runner_id, passed):
                        cluster.log(node, _kind(passed), line)
                cluster.touch()


def _kind(phase: str) -> str:
    return {"RunnerConnecting": "jaccl", "RunnerLoading": "load"}.get(phase, "runner")


def _node_of(instance: Instance, runner_id: str) -> str:
    return next(n for n, r in instance.node_to_runner.items() if r == runner_id)


def _phase_lines(cluster: Cluster, instance: Instance, runner_id: str, phase: str) -> list[str]:
    shard = instance.shard_of(runner_id)
    rank, world = shard["deviceRank"], shard["worldSize"]
    jaccl = instance.meta == "MlxJacclInstance"
    node_id = _node_of(instance, runner_id)
    if phase == "RunnerConnecting":
        if not jaccl:
            hosts = instance.body["hostsByNode"][node_id]
            return [f"rank {rank} MLX_RING hosts: {json.dumps(hosts)}"]
        hosts_file = f"/tmp/tmp{secrets.token_hex(4)}/hosts_{instance.instance_id}_{rank}.json"
        devices = json.dumps(instance.body["jacclDevices"])
        return [
            f"rank {rank} MLX_IBV_DEVICES: {hosts_file} with devices: {devices}",
            f"rank {rank} MLX_JACCL_COORDINATOR: {instance.body['jacclCoordinators'][node_id]}",
        ]
    if phase == "RunnerLoading":
        node = cluster.node_by_id(node_id)
        models_dir = node.models_dir if node is not None else "~/.exo/models"
        path = f"{models_dir}/{cluster.model(instance.model_id).dir_name}"
        lines = []
        if world > 1:
            lines.append(f"Rank {rank} mlx distributed initialization complete")
            lines.append(f"Group size: {world}, group rank: {rank}")
        parallelism = "tensor" if "TensorShardMetadata" in _shard_tag(instance, runner_id) else (
            "pipeline")
        lines.append(f"loading model from {path} with {parallelism} parallelism")
        return lines
    return {
        "RunnerLoaded": [f"Model {instance.model_id} loaded (layers "
                         f"{shard['startLayer']}-{shard['endLayer']})"],
        "RunnerWarmingUp": ["Warming up inference"],
        "RunnerReady": [f"Runner {runner_id} ready for {instance.model_id}"],
    }[phase]


def _shard_tag(instance: Instance, runner_id: str) -> str:
    return str(next(iter(instance.body["shardAssignments"]["runnerToShard"][runner_id])))
