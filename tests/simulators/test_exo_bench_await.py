"""POST /bench/chat/completions (generation_stats and power_usage) and GET /instance/await."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from simulators.exo.bench import energy
from simulators.exo.testing import RunningSim

LLAMA_8B = "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"
ASK = {"model": LLAMA_8B, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 6}
NODE_POWER = {"node_id", "samples", "avg_sys_power"}
PHASES = {"prefill_avg_sys_power", "generation_avg_sys_power", "prefill_energy_joules",
          "generation_energy_joules"}
TOTALS = {"elapsed_seconds", "nodes", "total_avg_sys_power_watts", "total_energy_joules"}
TOTAL_PHASES = {"prefill_seconds", "generation_seconds", "prefill_energy_joules",
                "generation_energy_joules", "prefill_avg_sys_power_watts",
                "generation_avg_sys_power_watts"}


def test_energy_is_the_trapezoid_of_the_samples() -> None:
    samples = [(0.0, 10.0), (1.0, 30.0), (3.0, 30.0)]
    assert energy(samples, 0.0, 3.0) == pytest.approx(20.0 + 60.0)
    assert energy(samples, 0.5, 1.0) == pytest.approx((20.0 + 30.0) / 2 * 0.5)
    assert energy([(0.0, 12.0)], 0.0, 2.0) == 24.0
    assert energy(samples, 2.0, 2.0) == 0.0


@pytest.mark.parametrize("version, phases", [("main", True), ("1.0.71", False)])
def test_bench_answers_with_stats_and_power(make_exo_sim: Callable[..., RunningSim],
                                            version: str, phases: bool) -> None:
    sim = make_exo_sim(exo_version=version)
    sim.load(LLAMA_8B)
    response = sim.client.post("/bench/chat/completions", json={**ASK, "use_prefix_cache": True})
    assert response.status_code == 200
    answer = response.json()
    assert answer["object"] == "chat.completion" and answer["usage"] is None
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["choices"][0]["message"]["tool_calls"] is None  # every field, as FastAPI writes
    stats = answer["generation_stats"]
    assert stats["generation_tokens"] == 6 and stats["peak_memory_usage"]["inBytes"] > 0
    power = answer["power_usage"]
    assert set(power) == TOTALS | (TOTAL_PHASES if phases else set())
    assert {n["node_id"] for n in power["nodes"]} == set(sim.state("/nodeIdentities"))
    for node in power["nodes"]:
        assert set(node) == NODE_POWER | (PHASES if phases else set())
        assert node["samples"] >= 2 and node["avg_sys_power"] > 0
    assert power["total_energy_joules"] == pytest.approx(
        power["total_avg_sys_power_watts"] * power["elapsed_seconds"])
    if phases:
        assert power["prefill_seconds"] + power["generation_seconds"] == pytest.approx(
            power["elapsed_seconds"])


def test_bench_needs_an_instance(exo_sim: RunningSim) -> None:
    response = exo_sim.client.post("/bench/chat/completions", json=ASK)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"No instance found for model {LLAMA_8B}"


def test_bench_streams_on_main(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_8B)
    raw = exo_sim.client.post("/bench/chat/completions", json={**ASK, "stream": True}).text
    assert raw.startswith(": keep-alive") and raw.rstrip().endswith("data: [DONE]")


def await_messages(sim: RunningSim, **params: Any) -> list[str]:
    return [block for block in sim.client.get("/instance/await", params=params).text.split("\n\n")
            if block]


def test_await_answers_once_an_instance_exists_ready_or_not(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/settings", json={"load_time": 30})
    instance = exo_sim.load(LLAMA_8B, wait=False)
    blocks = await_messages(exo_sim, model_id=LLAMA_8B, timeout_seconds=5)
    assert blocks[0] == ": keep-alive"
    message = json.loads(blocks[1].removeprefix("data: "))
    assert message["type"] == "ready"
    # exo dumps this message without aliases: the instance comes out in snake_case.
    body = message["instance"]["MlxRingInstance"]
    assert body["instance_id"] == instance["MlxRingInstance"]["instanceId"]
    assignments = body["shard_assignments"]
    assert assignments["node_to_runner"] == instance["MlxRingInstance"]["shardAssignments"][
        "nodeToRunner"]
    (shard,) = assignments["runner_to_shard"].values()
    assert shard["PipelineShardMetadata"]["model_card"]["storage_size"]["in_bytes"] > 0
    assert "ephemeral_port" in body and "hosts_by_node" in body


def test_await_times_out(exo_sim: RunningSim) -> None:
    blocks = await_messages(exo_sim, model_id=LLAMA_8B, timeout_seconds=0.2)
    assert json.loads(blocks[-1].removeprefix("data: ")) == {
        "type": "timeout", "message": f"No instance found for model {LLAMA_8B}"}


@pytest.mark.parametrize("params, loc", [
    ({}, ["query", "model_id"]),
    ({"model_id": LLAMA_8B, "timeout_seconds": 301}, ["query", "timeout_seconds"]),
    ({"model_id": LLAMA_8B, "timeout_seconds": -1}, ["query", "timeout_seconds"]),
    ({"model_id": LLAMA_8B, "timeout_seconds": "soon"}, ["query", "timeout_seconds"]),
])
def test_await_validates_its_query(exo_sim: RunningSim, params: dict[str, Any],
                                   loc: list[str]) -> None:
    response = exo_sim.client.get("/instance/await", params=params)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc


def test_release_has_no_await_route(make_exo_sim: Callable[..., RunningSim]) -> None:
    sim = make_exo_sim(exo_version="1.0.71")
    response = sim.client.get("/instance/await", params={"model_id": LLAMA_8B})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Instance not found"
