"""A model benchmark through the real stack against the exo simulator: every placement exo
offers for Llama 3.2 1B loaded, benchmarked and unloaded in turn; a cancel between placements
leaves no instance behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from models_app.bench import core
from tests.stack import FAST_LOAD_TIME, FAST_SPEED, Stack, api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
TINY = {"model": "llama-3.2-1b", "mode": "placements", "prompt_lengths": [512],
        "generation_lengths": [16], "runs": 1}


@pytest.fixture
def sim_settings(exo_url: str) -> Iterator[httpx.Client]:
    """The session's exo simulator's settings, put back as the stack set them afterwards."""
    with httpx.Client(base_url=f"{exo_url}/_sim", timeout=10) as control:
        yield control
        control.post("/settings", json={"speed": FAST_SPEED, "load_time": FAST_LOAD_TIME})


def start(stack: Stack, token: str) -> dict[str, Any]:
    with api(stack, token) as client:
        response = client.post("/api/v1/benchmarks/", json=TINY)
    assert response.status_code == 202, response.text
    return response.json()


def detail(stack: Stack, token: str, benchmark_id: int) -> dict[str, Any]:
    with api(stack, token) as client:
        response = client.get(f"/api/v1/benchmarks/{benchmark_id}/")
    assert response.status_code == 200, response.text
    return response.json()


def instances_of(exo_url: str, model_id: str) -> list[str]:
    state = httpx.get(f"{exo_url}/state", timeout=10).json()
    return [body["instanceId"] for tagged in state["instances"].values()
            for body in tagged.values() if body["shardAssignments"]["modelId"] == model_id]


def offered(exo_url: str) -> list[str]:
    previews = httpx.get(f"{exo_url}/instance/previews", params={"model_id": LLAMA_1B},
                         timeout=10).json()["previews"]
    return [p.key for p in core.placements_from_previews(previews)]


def test_every_placement_is_loaded_benchmarked_and_unloaded(live_stack, alice_token, nodes,
                                                            guide_models, exo_url):
    wanted = offered(exo_url)
    assert {"Tensor/MlxJaccl/2", "Tensor/MlxRing/2", "Pipeline/MlxRing/1"} <= set(wanted)
    benchmark = start(live_stack, alice_token)
    done = wait_until(lambda: (d := detail(live_stack, alice_token, benchmark["id"]))["job"][
        "state"] in ("succeeded", "failed", "cancelled") and d, timeout=180)
    assert done["job"]["state"] == "succeeded", done["job"]
    rows = done["summary"]["placements"]
    assert [row["placement"] for row in rows] == wanted
    for row in rows:
        assert row["runs"] == 1 and row["expected_tps"] == 5000
        assert 0 < row["generation_tokens"] <= 16 and row["prompt_tokens"] >= 500
        assert row["prefill_tps"] > 0 and row["generation_tps"] > 0
        assert row["energy_joules"] > 0 and row["cost_per_million_usd"] > 0
        assert row["verdict"] in ("meets", "near", "misses")
    assert done["summary"]["rdma_ratios"] and done["summary"]["overheads"]
    assert done["job"]["done"] == done["job"]["total"] == len(wanted)
    assert not instances_of(exo_url, LLAMA_1B)


def test_a_cancel_between_placements_leaves_no_instance(live_stack, alice_token, nodes,
                                                        guide_models, exo_url, sim_settings):
    sim_settings.post("/settings", json={"load_time": 4})  # time to cancel during a load
    benchmark = start(live_stack, alice_token)
    job_id = benchmark["job"]["id"]
    wait_until(lambda: detail(live_stack, alice_token, benchmark["id"])["summary"]["placements"],
               timeout=60)
    with api(live_stack, alice_token) as client:
        assert client.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 200
    final = wait_until(lambda: (d := detail(live_stack, alice_token, benchmark["id"]))["job"][
        "state"] in ("succeeded", "failed", "cancelled") and d, timeout=60)
    assert final["job"]["state"] == "cancelled", final["job"]
    assert 1 <= len(final["summary"]["placements"]) < len(offered(exo_url))
    wait_until(lambda: not instances_of(exo_url, LLAMA_1B), timeout=30)
