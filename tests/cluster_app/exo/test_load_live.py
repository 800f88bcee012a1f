"""Loading a model through the real stack as exo does it: its card added first when exo has
none, each node's shard downloaded (progress in bytes), then the runners (progress in layers);
exo's refusal as a clear job error; a cancelled load leaves no instance behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from models_app.models import LlmModel
from tests.stack import FAST_LOAD_TIME, FAST_SPEED, Stack, api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
WIDE = "sim-org/wide-4bit"  # 1.5 MB in the hub simulator's test manifest


@pytest.fixture
def sim_settings(exo_url: str) -> Iterator[httpx.Client]:
    """The session's exo simulator's settings, put back as the stack set them afterwards."""
    with httpx.Client(base_url=f"{exo_url}/_sim", timeout=10) as control:
        yield control
        control.post("/settings", json={"speed": FAST_SPEED, "load_time": FAST_LOAD_TIME})


def load(stack: Stack, token: str, model: str) -> dict[str, Any]:
    with api(stack, token) as client:
        response = client.post("/api/v1/instances/", json={"model": model})
    assert response.status_code == 202, response.text
    return response.json()


def follow(stack: Stack, token: str, job_id: int, until) -> list[dict[str, Any]]:
    """The job's live events over its websocket, up to the first that `until` accepts."""
    seen = []
    with connect(f"{stack.ws_url}/ws/jobs/{job_id}/",
                 additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        while not seen or not until(seen[-1]):
            seen.append(json.loads(ws.recv(timeout=60))["job"])
    return seen


def ended(job: dict[str, Any]) -> bool:
    return job["state"] in ("succeeded", "failed", "cancelled")


def instances_of(exo_url: str, model_id: str) -> list[str]:
    state = httpx.get(f"{exo_url}/state", timeout=10).json()
    return [body["instanceId"] for tagged in state["instances"].values()
            for body in tagged.values() if body["shardAssignments"]["modelId"] == model_id]


def unload(stack: Stack, token: str, instance_id: str, exo_url: str, model_id: str) -> None:
    with api(stack, token) as client:
        client.delete(f"/api/v1/instances/{instance_id}/")
    wait_until(lambda: not instances_of(exo_url, model_id), timeout=30)


def test_a_model_exo_has_no_card_for_is_added_downloaded_then_loaded(
        live_stack, alice_token, nodes, exo_built_in_cards, exo_url, sim_settings):
    LlmModel.objects.create(slug="wide", display_name="Wide", repo_id=WIDE, size_bytes=1536 * 1024)
    # Slow enough for the shard download to be seen (about 600 kB/s), and its layers loading for
    # 2.5 s (loading and loaded: 0.5 of the load time), polls apart on a busy machine too.
    sim_settings.post("/settings", json={"speed": 0.004, "load_time": 5})
    job = load(live_stack, alice_token, "wide")
    seen = follow(live_stack, alice_token, job["id"], ended)
    final = seen[-1]
    assert final["state"] == "succeeded", final
    downloading = [j for j in seen if j["message"].startswith("Downloading shards: ")]
    assert downloading and {j["unit"] for j in downloading} == {"bytes"}
    assert any(0 < j["done"] < j["total"] for j in downloading)  # bytes as they arrive
    assert max(j["total"] for j in downloading) >= 1024 * 1024  # the shard's bytes
    # The runners' processes start first; they load their layers once the shard is there.
    loading = [j for j in seen if j["message"].startswith(("Loading layers", "Warming up"))]
    assert loading and seen.index(loading[0]) > seen.index(downloading[-1])
    assert {j["unit"] for j in loading} == {"layers"}
    assert final["done"] == final["total"] == 2  # the model's two layers, all loaded
    log = final["log_tail"]
    assert log[:2] == [f"exo has no card for {WIDE}: adding it (POST /models/add)",
                       f"exo added its card for {WIDE}"]
    # Each phase is logged as it begins, in exo's order.
    phases = [line.split(": ", 2)[1].split(" (")[0] for line in log if line.startswith(f"{WIDE}: ")]
    assert phases.index("Downloading shards") < phases.index("Loading layers")
    assert phases[-1].startswith("Ready on ")
    instance_id = final["result"]["instance_id"]
    assert instances_of(exo_url, WIDE) == [instance_id]
    unload(live_stack, alice_token, instance_id, exo_url, WIDE)


def test_a_card_exo_cannot_add_fails_the_load_with_exos_reason(live_stack, alice_token, nodes,
                                                             exo_built_in_cards):
    LlmModel.objects.create(slug="absent", display_name="Absent", repo_id="sim-org/absent-4bit",
                            size_bytes=10**6)
    job = load(live_stack, alice_token, "absent")
    final = follow(live_stack, alice_token, job["id"], ended)[-1]
    assert final["state"] == "failed" and final["error_code"] == "exo_card_failed"
    assert final["error"].startswith("exo could not add a card for sim-org/absent-4bit: "
                                     "Failed to fetch model: ")


def test_cancelling_a_load_deletes_its_instance(live_stack, alice_token, nodes, guide_models,
                                                exo_url, sim_settings):
    llama = "mlx-community/Llama-3.2-1B-Instruct-4bit"
    sim_settings.post("/settings", json={"load_time": 60})
    job = load(live_stack, alice_token, "llama-3.2-1b")
    follow(live_stack, alice_token, job["id"],
           lambda j: j["unit"] == "layers" and j["state"] == "running")
    assert instances_of(exo_url, llama)
    with api(live_stack, alice_token) as client:
        assert client.post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 200
    final = follow(live_stack, alice_token, job["id"], ended)[-1]
    assert final["state"] == "cancelled"
    wait_until(lambda: not instances_of(exo_url, llama), timeout=10)
