"""GET /models and /v1/models: exo's built-in cards for the guide's models, and no others."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulators.exo.testing import RunningSim

DEEPSEEK = "mlx-community/DeepSeek-V3.1-4bit"
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"

# exo's resources/inference_model_cards/*.toml: id -> (bytes, layers, capabilities).
EXO_CARDS = {
    "mlx-community/DeepSeek-V3.1-4bit": (405_874_409_472, 61,
                                         ["text", "thinking", "thinking_toggle"]),
    "mlx-community/DeepSeek-V3.1-8bit": (765_577_920_512, 61,
                                         ["text", "thinking", "thinking_toggle"]),
    "mlx-community/Llama-3.2-1B-Instruct-4bit": (729_808_896, 16, ["text"]),
    "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit": (4_637_851_648, 32, ["text"]),
    "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit": (40_652_242_944, 80, ["text"]),
}
NOT_IN_EXO = ("mlx-community/DeepSeek-V3-4bit", "mlx-community/DeepSeek-V3-8bit",
              "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit",
              "mlx-community/Mistral-Large-Instruct-2407-4bit",
              "mlx-community/Mixtral-8x22B-Instruct-v0.1-4bit")
LISTING_KEYS = {
    "id", "object", "created", "owned_by", "hugging_face_id", "name", "description",
    "context_length", "tags", "storage_size_megabytes", "supports_tensor", "tasks", "is_custom",
    "family", "quantization", "base_model", "capabilities",
}


@pytest.mark.parametrize("path", ["/models", "/v1/models"])
def test_catalogue_is_exos_cards_for_the_guides_models(exo_sim: RunningSim, path: str) -> None:
    body = exo_sim.client.get(path).json()
    assert body["object"] == "list"
    by_id = {entry["id"]: entry for entry in body["data"]}
    assert set(by_id) == set(EXO_CARDS)
    for model_id, entry in by_id.items():
        size, _, capabilities = EXO_CARDS[model_id]
        assert set(entry) == LISTING_KEYS | {"reasoning_dialect"}
        assert entry["object"] == "model" and entry["owned_by"] == "exo"
        assert entry["hugging_face_id"] == model_id and entry["is_custom"] is False
        assert entry["name"] == model_id.split("/")[1] and entry["description"] == ""
        assert entry["storage_size_megabytes"] == round(size / 2**20)
        assert entry["capabilities"] == capabilities
    assert by_id[DEEPSEEK]["reasoning_dialect"] == "post_last_user"
    assert by_id[DEEPSEEK]["storage_size_megabytes"] == 387_072  # the guide's 378 GB


def test_release_listing_has_no_reasoning_dialect(make_exo_sim: Callable[..., RunningSim]
                                                  ) -> None:
    data = make_exo_sim(exo_version="1.0.71").client.get("/models").json()["data"]
    assert all(set(entry) == LISTING_KEYS for entry in data)


def test_cards_are_exos_in_shards(exo_sim: RunningSim) -> None:
    placed = exo_sim.placement(DEEPSEEK, "Tensor", "MlxJaccl", 2)
    shard = next(iter(placed["MlxJacclInstance"]["shardAssignments"]["runnerToShard"].values()))
    card = shard["TensorShardMetadata"]["modelCard"]
    assert card["storageSize"] == {"inBytes": 405_874_409_472}
    assert (card["nLayers"], card["hiddenSize"], card["numKeyValueHeads"]) == (61, 7168, 128)
    assert card["backends"] == ["MlxMetal", "MlxCuda", "MlxCpu"]
    assert card["baseModel"] == "DeepSeek V3.1" and card["contextLength"] == 131_072
    assert card["samplingDefaults"]["temperature"] == 0.6
    assert card["samplingDefaults"]["topP"] == 0.95


@pytest.mark.parametrize("model_id", NOT_IN_EXO)
def test_models_exo_has_no_card_for_are_unknown(exo_sim: RunningSim, model_id: str) -> None:
    response = exo_sim.client.get("/instance/previews", params={"model_id": model_id})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Failed to load model card: ")
    placement = exo_sim.client.get("/instance/placement", params={"model_id": model_id})
    assert (placement.status_code, placement.text) == (500, "Internal Server Error")


def test_status_downloaded_keeps_models_completed_on_some_node(
    make_exo_sim: Callable[..., RunningSim],
) -> None:
    exo_sim = make_exo_sim(downloaded={LLAMA_1B: ["BETA"]})
    listed = exo_sim.client.get("/models", params={"status": "downloaded"}).json()["data"]
    assert [entry["id"] for entry in listed] == [LLAMA_1B]
    assert len(exo_sim.client.get("/v1/models").json()["data"]) == len(EXO_CARDS)


def test_default_downloads_are_the_guides_four(exo_sim: RunningSim) -> None:
    ids = {e["id"] for e in exo_sim.client.get("/models?status=downloaded").json()["data"]}
    assert ids == {DEEPSEEK, LLAMA_1B, "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit",
                   "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"}
