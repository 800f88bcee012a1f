"""Custom model cards, read from a Hub (the hub simulator) as exo reads them: POST /models/add,
DELETE /models/custom/{id}, GET /models/search, cards loaded for a placement, and the same
through the simulator's own /_sim/cards."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from simulators.exo.testing import RunningSim
from simulators.hub.state import SimState

from .conftest import HUB_GATED_REPO, HUB_REPO

WIDE = "sim-org/wide-4bit"


@pytest.fixture
def sim(make_exo_sim: Callable[..., RunningSim], hub_url: str) -> RunningSim:
    return make_exo_sim(hf_endpoint=hub_url, rescan_interval=0.05)


def index_total(hub_state: SimState, repo_id: str) -> int:
    index = hub_state.store.repos[repo_id].files["model.safetensors.index.json"]
    text = b"".join(index.source.iter_range(0, index.size))
    return int(json.loads(text)["metadata"]["total_size"])


def test_add_reads_the_card_from_the_hub(sim: RunningSim, hub_state: SimState) -> None:
    response = sim.client.post("/models/add", json={"model_id": HUB_REPO})
    assert response.status_code == 200
    total = index_total(hub_state, HUB_REPO)
    # exo's answer fills only some fields of its ModelListModel.
    answer = response.json()
    assert answer | {"created": 0} == {
        "id": HUB_REPO, "object": "model", "created": 0, "owned_by": "exo",
        "hugging_face_id": HUB_REPO, "name": "tiny-4bit", "description": "",
        "context_length": 0, "tags": [], "storage_size_megabytes": round(total / 2**20),
        "supports_tensor": True, "tasks": ["TextGeneration"], "is_custom": True, "family": "",
        "quantization": "", "base_model": "", "capabilities": [], "reasoning_dialect": "none"}
    listed = {m["id"]: m for m in sim.client.get("/models").json()["data"]}
    assert listed[HUB_REPO]["is_custom"] is True
    assert listed[HUB_REPO]["context_length"] == 2048  # the config's max_position_embeddings
    card = sim.state("/customModelCards")[HUB_REPO]
    assert card["storageSize"] == {"inBytes": total}
    assert (card["nLayers"], card["hiddenSize"], card["numKeyValueHeads"]) == (2, 256, 2)
    assert card["trustRemoteCode"] is False and card["isCustom"] is True
    assert card["backends"] == ["MlxMetal", "MlxCpu", "MlxCuda", "Vllm"]


def test_an_added_card_is_listed_pending_at_the_next_rescan(sim: RunningSim) -> None:
    sim.client.post("/models/add", json={"model_id": HUB_REPO}).raise_for_status()
    beta = sim.node_id("BETA")

    def entry() -> dict[str, object] | None:
        for item in sim.state(f"/downloads/{beta}"):
            ((tag, fields),) = item.items()
            if fields["shardMetadata"]["PipelineShardMetadata"]["modelCard"]["modelId"] == (
                    HUB_REPO):
                return {"tag": tag, **fields}
        return None

    found = sim.wait_for(entry)
    assert found["tag"] == "DownloadPending" and found["downloaded"] == {"inBytes": 0}


def test_a_custom_card_places_and_loads(sim: RunningSim) -> None:
    sim.client.post("/models/add", json={"model_id": WIDE}).raise_for_status()
    instance = sim.load(WIDE)
    assert next(iter(instance.values()))["shardAssignments"]["modelId"] == WIDE


@pytest.mark.parametrize("model_id, message", [
    # The Hub answers 401 for a repo it does not have, to anyone without a token.
    ("sim-org/no-such-model", ("Failed to fetch model: Model 'sim-org/no-such-model' "
                               "requires authentication. Set HF_TOKEN")),
    (HUB_GATED_REPO, ("Failed to fetch model: Model 'sim-gated/tiny-bf16' requires "
                      "authentication.")),
])
def test_add_fails_with_exos_400(sim: RunningSim, model_id: str, message: str) -> None:
    response = sim.client.post("/models/add", json={"model_id": model_id})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)
    assert response.json()["error"]["type"] == "Bad Request"


def test_add_without_a_hub_fails(make_exo_sim: Callable[..., RunningSim]) -> None:
    response = make_exo_sim().client.post("/models/add", json={"model_id": HUB_REPO})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Failed to fetch model: Cannot connect")


def test_add_validates_its_body(sim: RunningSim) -> None:
    response = sim.client.post("/models/add", json={})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "model_id"]


def test_delete_removes_custom_cards_only(sim: RunningSim) -> None:
    sim.client.post("/models/add", json={"model_id": HUB_REPO}).raise_for_status()
    response = sim.client.delete(f"/models/custom/{HUB_REPO}")
    assert response.json() == {"message": "Model card deleted", "model_id": HUB_REPO}
    assert HUB_REPO not in {m["id"] for m in sim.client.get("/models").json()["data"]}
    assert sim.state("/customModelCards") == {}
    again = sim.client.delete(f"/models/custom/{HUB_REPO}")
    assert again.status_code == 404
    assert again.json()["error"]["message"] == "Custom model card not found"
    built_in = sim.client.delete("/models/custom/mlx-community/Llama-3.2-1B-Instruct-4bit")
    assert built_in.status_code == 404


def test_an_unknown_model_is_fetched_when_a_placement_asks(sim: RunningSim) -> None:
    previews = sim.client.get("/instance/previews", params={"model_id": WIDE})
    assert previews.status_code == 200 and previews.json()["previews"]
    listed = {m["id"]: m for m in sim.client.get("/models").json()["data"]}
    assert listed[WIDE]["is_custom"] is True
    # Loaded on the fly, it is no card added to the cluster's state.
    assert sim.state("/customModelCards") == {}


def test_search_asks_mlx_community_then_the_whole_hub(sim: RunningSim) -> None:
    response = sim.client.get("/models/search", params={"query": "tiny"})
    assert response.status_code == 200
    assert response.json() == [
        {"id": HUB_REPO, "author": "", "downloads": 0, "likes": 0, "last_modified": "",
         "tags": ["safetensors", "llama", "text-generation", "mlx"]},
        {"id": HUB_GATED_REPO, "author": "", "downloads": 0, "likes": 0, "last_modified": "",
         "tags": ["safetensors", "llama", "text-generation", "pt"]},
    ]
    assert sim.client.get("/models/search", params={"query": "zzz"}).json() == []
    assert len(sim.client.get("/models/search", params={"limit": 1}).json()) == 1
    bad = sim.client.get("/models/search", params={"limit": "some"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "limit"]


def test_search_without_a_hub_is_a_plain_500(make_exo_sim: Callable[..., RunningSim]) -> None:
    response = make_exo_sim().client.get("/models/search", params={"query": "x"})
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_control_api_adds_a_card_from_a_config(exo_sim: RunningSim) -> None:
    config = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 5120,
              "num_hidden_layers": 64, "num_key_value_heads": 8,
              "max_position_embeddings": 32768}
    response = exo_sim.client.post("/_sim/cards", json={
        "model_id": "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit", "config": config,
        "total_size": 19_327_352_832})
    assert response.status_code == 200
    assert response.json()["is_custom"] is True
    assert response.json()["supports_tensor"] is False  # not an architecture exo splits
    bad = exo_sim.client.post("/_sim/cards", json={
        "model_id": "x/y", "config": {"hidden_size": 1}, "total_size": 1})
    assert bad.status_code == 400 and "num_hidden_layers" in bad.json()["error"]["message"]
