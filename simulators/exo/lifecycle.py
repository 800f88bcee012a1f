"""Runner lifecycles as exo's workers drive them, moved on by the ticker.

An instance's runners start (absent from ``/state.runners`` until their process is up), sit
``Idle`` while each node downloads its shard, then go ``Connecting``/``Connected`` (several
nodes only), ``Loading`` layer by layer, ``Loaded``, ``WarmingUp`` and ``Ready`` (``Running``
while generating). A runner that dies is ``Failed``; its peers shut down, and after exo's backoff
(doubling, capped at 20 times the first wait) the failed runner is re-created, then its peers;
after five creations exo gives up and deletes the instance.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from .cluster import Cluster, Instance, Runner
from .downloads import Shard

# Share of the load time each phase lasts; runners stay idle at least their share, and for as
# long as the download takes.
DURATIONS = {"spawning": 0.1, "connecting": 0.1, "connected": 0.05, "loading": 0.45,
             "loaded": 0.05, "warming": 0.2}
IDLE_AT_LEAST = 0.05
STATUS = {"downloading": "Idle", "connecting": "Connecting", "connected": "Connected",
          "loading": "Loading", "loaded": "Loaded", "warming": "WarmingUp", "ready": "Ready"}
MAX_ATTEMPTS = 5  # exo's EXO_MAX_INSTANCE_RETRIES
BACKOFF_CAP = 20  # exo waits at most 10 s after a first wait of 0.5 s


@dataclass(frozen=True)
class Death:
    """How a runner process dies: exo's cause text, the log lines before it, diagnostics."""

    cause: str
    lines: tuple[str, ...]
    diagnostics: tuple[dict[str, Any], ...] = ()


RING_LINE = "[ring] Receiving from socket 12 failed with errno 54"
DEATHS = {
    # The JACCL receive timeout that takes a runner down with a segfault (exo issue 1847).
    "segfault": Death("signal=11 (Segmentation fault: 11)",
                      ("RuntimeError: [jaccl] Recv failed with errno=60",)),
    # A ring peer gone: MLX aborts, and exo recognises the socket error.
    "ring": Death("signal=6 (Abort trap: 6)", (RING_LINE,), ({
        "RunnerRingSocketReceivingError": {
            "message": "Ring socket receive failed: errno 54 ECONNRESET (Connection reset by peer)",
            "evidence": [RING_LINE], "errorNumber": 54, "errorName": "ECONNRESET",
            "errorDescription": "Connection reset by peer",
        },
    },)),
}


def advance(cluster: Cluster, now: float) -> None:
    for runner_id, (_, gone_at) in list(cluster.retired.items()):
        if now >= gone_at:
            del cluster.retired[runner_id]
            cluster.touch()
    for instance in list(cluster.instances.values()):
        _step(cluster, instance, now)


def _step(cluster: Cluster, instance: Instance, now: float) -> None:
    phase, elapsed = instance.phase, now - instance.phase_since
    if phase == "failed":
        _recover(cluster, instance, elapsed, now)
        return
    if phase == "downloading":
        if _downloads_done(cluster, instance) and elapsed >= IDLE_AT_LEAST * cluster.load_time:
            _enter(cluster, instance, "connecting" if len(instance.runners) > 1 else "loading",
                   now)
        return
    if phase == "loading":
        if instance.model_id in cluster.fail_load:
            fail_runner(cluster, instance, next(iter(instance.runners)), "segfault", now)
            return
        share = min(1.0, elapsed / max(_duration(cluster, phase), 1e-9))
        for runner in instance.runners.values():
            runner.layers_loaded = int(runner.layers * share)
    if phase in DURATIONS and elapsed >= _duration(cluster, phase):
        following = {"spawning": "downloading", "connecting": "connected",
                     "connected": "loading", "loading": "loaded", "loaded": "warming",
                     "warming": "ready"}[phase]
        _enter(cluster, instance, following, now)


def _duration(cluster: Cluster, phase: str) -> float:
    return DURATIONS[phase] * cluster.load_time


def _enter(cluster: Cluster, instance: Instance, phase: str, now: float) -> None:
    instance.phase, instance.phase_since = phase, now
    for runner in instance.runners.values():
        runner.status = STATUS[phase]
        runner.layers_loaded = 0
        node = cluster.node_by_id(runner.node_id)
        if node is not None:
            for kind, line in _lines(cluster, instance, runner, phase):
                cluster.log(node, kind, line)
    if phase == "downloading":
        _downloads_done(cluster, instance)
    cluster.touch()


def _downloads_done(cluster: Cluster, instance: Instance) -> bool:
    """Start each node's shard download where none is under way; true once all are done."""
    done = True
    for runner in instance.runners.values():
        node = cluster.node_by_id(runner.node_id)
        if node is None or not node.alive:
            return False
        tag = next(iter(runner.tagged_shard))
        shard = Shard("Tensor" if tag.startswith("Tensor") else "Pipeline",
                      runner.shard["deviceRank"], runner.shard["worldSize"],
                      runner.shard["startLayer"], runner.shard["endLayer"])
        cluster.downloads.start(node, instance.card, shard)
        entry = cluster.downloads.of(node).get(instance.model_id)
        done = done and entry is not None and entry.status == "completed"
    return done


def fail_runner(cluster: Cluster, instance: Instance, runner_id: str, how: str,
                now: float) -> Runner:
    """The runner process dies; exo marks it failed and shuts its peers down."""
    death = DEATHS[how]
    failed = instance.runners[runner_id]
    failed.status = "Failed"
    failed.error = f"Terminated ({death.cause})"
    failed.diagnostics = [dict(d) for d in death.diagnostics]
    for peer in instance.runners.values():
        if peer is not failed and peer.status:
            peer.status = "ShuttingDown"
    instance.phase, instance.phase_since = "failed", now
    node = cluster.node_by_id(failed.node_id)
    if node is not None:
        for line in death.lines:
            cluster.log(node, "runner", line, "ERROR")
        cluster.log(node, "runner", f"Runner terminated with {death.cause}", "ERROR")
    cluster.touch()
    return failed


def cause_of(runner: Runner) -> str:
    """exo's text for a command the runner was working on when it died."""
    return f"Runner shutdown before completing command {runner.error.removeprefix('Terminated ')}"


def _recover(cluster: Cluster, instance: Instance, elapsed: float, now: float) -> None:
    if elapsed >= cluster.shutdown_seconds:
        for runner in instance.runners.values():
            if runner.status == "ShuttingDown":
                runner.status = ""
                cluster.touch()
    backoff = min(cluster.retry_backoff * 2 ** (instance.attempts - 1),
                  cluster.retry_backoff * BACKOFF_CAP)
    if elapsed < max(backoff, cluster.shutdown_seconds):
        return
    failed = instance.failed
    if instance.attempts >= MAX_ATTEMPTS:
        for node_id in instance.node_to_runner:
            node = cluster.node_by_id(node_id)
            if node is not None:
                cluster.log(node, "master", f"Instance {instance.instance_id} exceeded "
                            f"{MAX_ATTEMPTS} retries, requesting deletion", "WARNING")
        cluster.delete_instance(instance)
        return
    instance.attempts += 1
    if failed is not None:
        # The failed node re-creates its runner first; its peers follow once it is back.
        failed.status, failed.error, failed.diagnostics = "Idle", "", []
    instance.phase, instance.phase_since = "spawning", now
    cluster.touch()


def render(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """``/state.runners``: every runner whose process is up, by id."""
    runners: dict[str, dict[str, Any]] = {}
    for instance in cluster.instances.values():
        for runner in instance.runners.values():
            if runner.status:
                runners[runner.runner_id] = _status(cluster, instance, runner)
    for runner_id in cluster.retired:
        runners[runner_id] = {"RunnerShuttingDown": {}}
    return runners


def _status(cluster: Cluster, instance: Instance, runner: Runner) -> dict[str, Any]:
    if runner.status == "Failed":
        return cluster.wire.runner_failed(runner.error, runner.diagnostics)
    if runner.status == "Loading":
        return {"RunnerLoading": {"layersLoaded": runner.layers_loaded,
                                  "totalLayers": runner.layers}}
    if runner.status == "Ready":
        return {"RunnerRunning": {}} if instance.generating else cluster.wire.runner_ready()
    return {f"Runner{runner.status}": {}}


def _lines(cluster: Cluster, instance: Instance, runner: Runner, phase: str
           ) -> list[tuple[str, str]]:
    """The log lines a runner writes on entering a phase: (log source kind, message)."""
    shard = runner.shard
    rank, world = shard["deviceRank"], shard["worldSize"]
    if phase == "connecting":
        if instance.meta == "MlxRingInstance":
            hosts = instance.body["hostsByNode"][runner.node_id]
            return [("jaccl", f"rank {rank} MLX_RING hosts: {json.dumps(hosts)}")]
        hosts_file = f"/tmp/tmp{secrets.token_hex(4)}/hosts_{instance.instance_id}_{rank}.json"
        devices = json.dumps(instance.body["jacclDevices"])
        coordinator = instance.body["jacclCoordinators"][runner.node_id]
        return [("jaccl", f"rank {rank} MLX_IBV_DEVICES: {hosts_file} with devices: {devices}"),
                ("jaccl", f"rank {rank} MLX_JACCL_COORDINATOR: {coordinator}")]
    if phase == "loading":
        node = cluster.node_by_id(runner.node_id)
        models_dir = node.models_dir if node is not None else "~/.exo/models"
        parallelism = "tensor" if "TensorShardMetadata" in runner.tagged_shard else "pipeline"
        lines = []
        if world > 1:
            lines += [("load", f"Rank {rank} mlx distributed initialization complete"),
                      ("load", f"Group size: {world}, group rank: {rank}")]
        return [*lines, ("load", (f"loading model from {models_dir}/{instance.card.dir_name} "
                                  f"with {parallelism} parallelism"))]
    return {
        "loaded": [("runner", (f"Model {instance.model_id} loaded (layers "
                               f"{shard['startLayer']}-{shard['endLayer']})"))],
        "warming": [("runner", "runner warming up")],
        "ready": [("runner", f"Runner {runner.runner_id} ready for {instance.model_id}")],
    }.get(phase, [])
