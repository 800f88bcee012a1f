"""The simulator's speed by placement: the guide's overheads, prefill faster than generation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulators.exo import speed
from simulators.exo.testing import RunningSim

LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"


def test_one_node_keeps_its_whole_speed_whatever_asked() -> None:
    assert speed.efficiency("Tensor", "MlxRing", 1) == 1.0


def test_tensor_over_rdma_beats_pipeline_which_beats_tensor_over_tcp() -> None:
    rdma = speed.efficiency("Tensor", "MlxJaccl", 2)
    pipeline = [speed.efficiency("Pipeline", meta, 2) for meta in ("MlxJaccl", "MlxRing")]
    tcp = speed.efficiency("Tensor", "MlxRing", 2)
    assert rdma > max(pipeline) and min(pipeline) > tcp
    assert 0.85 <= rdma <= 0.90 and 0.60 <= tcp <= 0.70  # the guide's 10-15% and 30-40%


def test_prefill_rate_climbs_with_the_prompt_far_above_generation() -> None:
    rates = [n / speed.prefill_seconds(n, 161.5, 2.5, 1.0) for n in (512, 2048, 8192)]
    assert rates == sorted(rates) and rates[-1] > 5 * 161.5
    assert rates[-1] < speed.PREFILL_FACTOR * 161.5
    assert speed.prefill_seconds(1, 161.5, 2.5, 0.5) == pytest.approx(
        2 * speed.prefill_seconds(1, 161.5, 2.5, 1.0))


def bench_tps(sim: RunningSim, sharding: str, meta: str) -> float:
    instance = sim.load(LLAMA_1B, sharding, meta, min_nodes=2)
    answer = sim.client.post("/bench/chat/completions", json={
        "model": LLAMA_1B, "messages": [{"role": "user", "content": "word " * 10}],
        "max_tokens": 20}).json()
    sim.client.delete(f"/instance/{next(iter(instance.values()))['instanceId']}")
    sim.wait_for(lambda: not sim.state()["instances"])
    return float(answer["generation_stats"]["generation_tps"])


def test_bench_is_faster_over_rdma_than_over_tcp(make_exo_sim: Callable[..., RunningSim]) -> None:
    sim = make_exo_sim()
    # 100 tok/s on one node at real speed (the tests' simulators run 50 times faster): 20 tokens
    # paced by the clock, not by the CPU, so the placements' gap shows however busy the machine.
    sim.client.post("/_sim/settings", json={"model_speeds": {LLAMA_1B: 100}, "speed": 1,
                                            "load_time": 0.2})
    rdma, tcp = bench_tps(sim, "Tensor", "MlxJaccl"), bench_tps(sim, "Tensor", "MlxRing")
    assert rdma > tcp


def test_the_overheads_are_settings(exo_sim: RunningSim) -> None:
    settings = exo_sim.client.get("/_sim/settings").json()["overheads"]
    assert settings["Tensor/MlxJaccl"] == 0.125 and settings["Tensor/MlxRing"] == 0.35
    changed = exo_sim.client.post("/_sim/settings", json={"overheads": {"Pipeline/MlxRing": 0.5}})
    assert changed.json()["overheads"]["Pipeline/MlxRing"] == 0.5
    for bad in ({"Tensor/Nvlink": 0.1}, {"Tensor/MlxRing": 1.0}, {"Tensor/MlxRing": "x"}):
        refused = exo_sim.client.post("/_sim/settings", json={"overheads": bad})
        assert refused.status_code == 400 and "bad overhead" in refused.json()["error"]["message"]
