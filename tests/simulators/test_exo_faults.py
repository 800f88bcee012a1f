"""Fault injection and controls under /_sim, and the same faults from the command line."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulators.exo.config import SimConfig
from simulators.exo.testing import RunningSim

LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
LLAMA_70B = "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit"
SEGFAULT = "Runner terminated with signal=11 (Segmentation fault: 11)"
TERMINATED = "Terminated (signal=11 (Segmentation fault: 11))"


def runner_ids(instance: dict[str, Any]) -> list[str]:
    return list(next(iter(instance.values()))["shardAssignments"]["nodeToRunner"].values())


def names(sim: RunningSim) -> list[str]:
    return sorted(i["friendlyName"] for i in sim.state("/nodeIdentities").values())


def test_dropped_node_goes_stale_then_leaves_with_its_instances(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/settings", json={"node_timeout": 0.5})
    two_node = exo_sim.load(LLAMA_70B, min_nodes=2)
    alpha_only = exo_sim.load(LLAMA_1B)
    beta = exo_sim.node_id("BETA")
    response = exo_sim.client.post("/_sim/nodes/BETA/drop")
    assert response.status_code == 200
    seen = exo_sim.state(f"/lastSeen/{beta}")
    time.sleep(0.1)
    state = exo_sim.state()
    assert state["lastSeen"][beta] == seen  # it stopped reporting
    assert beta in state["nodeMemory"]  # but the master has not given up yet
    assert beta not in state["topology"]["connections"]
    exo_sim.wait_for(lambda: beta not in exo_sim.state("/nodeIdentities"), timeout=3)
    state = exo_sim.state()
    assert all(beta not in state[key] for key in ("lastSeen", "nodeMemory", "nodeSystem",
                                                  "downloads", "nodeRdmaCtl"))
    assert state["topology"]["nodes"] == [exo_sim.node_id("ALPHA")]
    assert list(state["instances"]) == [next(iter(alpha_only.values()))["instanceId"]]
    exo_sim.wait_for(lambda: not set(runner_ids(two_node)) & set(exo_sim.state("/runners")))


def test_node_timeout_is_thirty_seconds_unless_told(make_exo_sim: Callable[..., RunningSim]
                                                    ) -> None:
    assert SimConfig().node_timeout == 30.0
    sim = make_exo_sim(node_timeout=30.0)
    sim.client.post("/_sim/nodes/BETA/drop")
    time.sleep(0.2)
    assert names(sim) == ["ALPHA", "BETA"]


def download_tags(sim: RunningSim, node_id: str) -> dict[str, str]:
    tags = {}
    for item in sim.state(f"/downloads/{node_id}"):
        ((tag, fields),) = item.items()
        tags[fields["shardMetadata"]["PipelineShardMetadata"]["modelCard"]["modelId"]] = tag
    return tags


def test_revived_node_comes_back_with_a_new_id_and_its_files(exo_sim: RunningSim) -> None:
    old = exo_sim.node_id("BETA")
    exo_sim.client.delete(f"/download/{old}/{LLAMA_1B}")
    exo_sim.client.post("/_sim/nodes/BETA/drop")
    exo_sim.wait_for(lambda: old not in exo_sim.state("/nodeIdentities"))
    response = exo_sim.client.post("/_sim/nodes/BETA/revive")
    assert response.status_code == 200
    new = exo_sim.node_id("BETA")
    assert new != old
    state = exo_sim.state()
    assert state["nodeRdmaCtl"][new] == {"enabled": True}
    assert {"sourceRdmaIface": "rdma_en3", "sinkRdmaIface": "rdma_en4"} in (
        state["topology"]["connections"][exo_sim.node_id("ALPHA")][new])
    tags = download_tags(exo_sim, new)
    assert tags[LLAMA_1B] == "DownloadPending"  # deleted before the restart
    assert tags[LLAMA_70B] == "DownloadCompleted"


def test_quick_restart_leaves_the_old_id_until_the_timeout(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/settings", json={"node_timeout": 0.4})
    old = exo_sim.node_id("BETA")
    exo_sim.client.post("/_sim/nodes/BETA/drop")
    exo_sim.client.post("/_sim/nodes/BETA/revive")
    assert names(exo_sim) == ["ALPHA", "BETA", "BETA"]
    exo_sim.wait_for(lambda: old not in exo_sim.state("/nodeIdentities"))
    assert names(exo_sim) == ["ALPHA", "BETA"]


def test_node_controls_reject_unknown_or_running_nodes(exo_sim: RunningSim) -> None:
    assert exo_sim.client.post("/_sim/nodes/GAMMA/drop").status_code == 404
    conflict = exo_sim.client.post("/_sim/nodes/BETA/revive")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["message"] == "BETA is running"


def runner_state(sim: RunningSim, runner_id: str) -> str:
    """The runner's state, "" while it is not listed."""
    return next(iter(sim.state("/runners").get(runner_id, {"": {}})))


def test_failed_runner_reports_the_segfault_and_its_peer_shuts_down(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/settings", json={"retry_backoff": 600})
    instance = exo_sim.load(LLAMA_70B, "Tensor", "MlxJaccl", 2)
    rank0, rank1 = runner_ids(instance)
    exo_sim.client.post("/_sim/settings", json={"load_time": 5})  # a 0.5 s shutdown to watch
    response = exo_sim.client.post(f"/_sim/runners/{rank1}/fail")
    assert response.status_code == 200
    assert exo_sim.state(f"/runners/{rank1}") == {"RunnerFailed": {
        "errorMessage": TERMINATED, "diagnostics": []}}
    assert runner_state(exo_sim, rank0) == "RunnerShuttingDown"
    exo_sim.wait_for(lambda: runner_state(exo_sim, rank0) == "")
    log = exo_sim.cluster.logbook.path_for("BETA").read_text()
    assert "| ERROR    |" in log
    assert "RuntimeError: [jaccl] Recv failed with errno=60" in log and SEGFAULT in log
    assert exo_sim.client.post("/_sim/runners/nope/fail").status_code == 404


def test_release_failures_carry_no_diagnostics(make_exo_sim: Callable[..., RunningSim]) -> None:
    sim = make_exo_sim(exo_version="1.0.71", retry_backoff=600)
    (runner,) = runner_ids(sim.load(LLAMA_1B))
    sim.client.post(f"/_sim/runners/{runner}/fail").raise_for_status()
    assert sim.state(f"/runners/{runner}") == {"RunnerFailed": {"errorMessage": TERMINATED}}


def test_a_ring_failure_carries_exos_diagnostic(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/settings", json={"retry_backoff": 600})
    rank0, _ = runner_ids(exo_sim.load(LLAMA_1B, "Pipeline", "MlxRing", 2))
    response = exo_sim.client.post(f"/_sim/runners/{rank0}/fail", json={"reason": "ring"})
    assert response.status_code == 200
    failed = exo_sim.state(f"/runners/{rank0}")["RunnerFailed"]
    assert failed["errorMessage"] == "Terminated (signal=6 (Abort trap: 6))"
    ((tag, diagnostic),) = (next(iter(d.items())) for d in failed["diagnostics"])
    assert tag == "RunnerRingSocketReceivingError"
    assert (diagnostic["errorNumber"], diagnostic["errorName"]) == (54, "ECONNRESET")
    assert diagnostic["evidence"] == ["[ring] Receiving from socket 12 failed with errno 54"]
    assert exo_sim.client.post(f"/_sim/runners/{rank0}/fail",
                               json={"reason": "gremlins"}).status_code == 422


def test_a_failed_runner_is_re_created_after_a_backoff(exo_sim: RunningSim) -> None:
    instance = exo_sim.load(LLAMA_70B, "Tensor", "MlxJaccl", 2)
    # Slow enough to see the re-created runner idle before its peer comes back.
    exo_sim.client.post("/_sim/settings", json={"retry_backoff": 0.3, "load_time": 2})
    rank0, rank1 = runner_ids(instance)
    exo_sim.client.post(f"/_sim/runners/{rank1}/fail").raise_for_status()
    # The failed runner comes back first, its peer once it is back.
    exo_sim.wait_for(lambda: runner_state(exo_sim, rank1) == "RunnerIdle")
    assert runner_state(exo_sim, rank0) in ("", "RunnerIdle")
    exo_sim.wait_for(lambda: exo_sim.ready(instance))
    chat = exo_sim.client.post("/v1/chat/completions", json={
        "model": LLAMA_70B, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    assert chat.status_code == 200


def test_fail_load_fault_fails_every_attempt_until_exo_gives_up(exo_sim: RunningSim) -> None:
    response = exo_sim.client.post("/_sim/faults", json={"fail_load": [LLAMA_1B]})
    assert response.json()["fail_load"] == [LLAMA_1B]
    instance = exo_sim.load(LLAMA_1B, wait=False)
    (runner,) = runner_ids(instance)
    exo_sim.wait_for(lambda: runner_state(exo_sim, runner) == "RunnerFailed")
    # Five creations, then exo deletes the instance.
    exo_sim.wait_for(lambda: exo_sim.state("/instances") == {}, timeout=10)
    log = exo_sim.cluster.logbook.path_for("ALPHA").read_text()
    assert log.count("Runner terminated with signal=11") == 5
    assert "exceeded 5 retries, requesting deletion" in log


def test_latency_fault_slows_exo_routes_only(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/faults", json={"latency": 0.3})
    started = time.monotonic()
    assert exo_sim.client.get("/node_id").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    exo_sim.client.get("/_sim/faults")
    assert time.monotonic() - started < 0.2


def test_error_fault_answers_500_until_cleared(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/faults", json={"error_rate": 1.0})
    response = exo_sim.client.get("/state")
    assert response.status_code == 500
    assert response.json() == {"error": {
        "message": "Internal server error (simulated fault)", "type": "Internal Server Error",
        "param": None, "code": 500}}
    assert exo_sim.client.get("/_sim").status_code == 200
    cleared = exo_sim.client.delete("/_sim/faults")
    assert cleared.json() == {"latency": 0.0, "error_rate": 0.0, "fail_load": []}
    assert exo_sim.client.get("/state").status_code == 200


def test_settings_read_and_set(exo_sim: RunningSim) -> None:
    settings = exo_sim.client.get("/_sim/settings").json()
    assert settings["speed"] == 50.0 and settings["load_time"] == 0.15
    changed = exo_sim.client.post("/_sim/settings", json={"speed": 2, "load_time": 9}).json()
    assert changed["speed"] == 2.0 and changed["load_time"] == 9.0
    assert exo_sim.client.post("/_sim/settings", json={"speed": 0}).status_code == 400
    assert exo_sim.client.post("/_sim/settings", json={"speed": "fast"}).status_code == 422
    overview = exo_sim.client.get("/_sim").json()
    assert [n["name"] for n in overview["nodes"]] == ["ALPHA", "BETA"]
    assert overview["nodes"][0]["hostname"] == "alpha.local"
    assert overview["settings"]["speed"] == 2.0


def test_config_faults_apply_from_the_start(make_exo_sim: Callable[..., RunningSim]) -> None:
    sim = make_exo_sim(drop_nodes=[("BETA", 0.0)], error_rate=1.0)
    assert sim.client.get("/state").status_code == 500
    sim.client.delete("/_sim/faults")
    sim.wait_for(lambda: names(sim) == ["ALPHA"])


def test_config_latency_applies(make_exo_sim: Callable[..., RunningSim]) -> None:
    sim = make_exo_sim(latency=0.25)
    started = time.monotonic()
    sim.client.get("/models")
    assert time.monotonic() - started >= 0.25
