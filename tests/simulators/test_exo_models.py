"""GET /models and /v1/models: the built-in catalogue."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulators.exo.catalogue import CATALOGUE
from simulators.exo.testing import RunningSim

DEEPSEEK = "mlx-community/DeepSeek-V3-4bit"
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"

GUIDE_MODELS = {
    "mlx-community/DeepSeek-V3-4bit": (405_874_409_472, 61),
    "mlx-community/Llama-3.2-1B-Instruct-4bit": (None, 16),
    "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit": (None, 80),
    "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit": (None, 32),
    "mlx-community/DeepSeek-V3-8bit": (None, 61),
    "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit": (None, 64),
    "mlx-community/Mistral-Large-Instruct-2407-4bit": (None, 88),
    "mlx-community/Mixtral-8x22B-Instruct-v0.1-4bit": (None, 56),
}
GUIDE_GIB = {
    "mlx-community/DeepSeek-V3-4bit": 378.0,
    "mlx-community/Llama-3.2-1B-Instruct-4bit": 1.24,
    "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit": 37.9,
    "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit": 4.5,
    "mlx-community/DeepSeek-V3-8bit": 712,
    "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit": 18,
    "mlx-community/Mistral-Large-Instruct-2407-4bit": 67,
    "mlx-community/Mixtral-8x22B-Instruct-v0.1-4bit": 87,
}
LISTING_KEYS = {
    "id", "object", "created", "owned_by", "hugging_face_id", "name", "description",
    "context_length", "tags", "storage_size_megabytes", "supports_tensor", "tasks", "is_custom",
    "family", "quantization", "base_model", "capabilities",
}


@pytest.mark.parametrize("path", ["/models", "/v1/models"])
def test_catalogue_lists_every_guide_model_with_full_ids(exo_sim: RunningSim, path: str) -> None:
    body = exo_sim.client.get(path).json()
    assert body["object"] == "list"
    by_id = {entry["id"]: entry for entry in body["data"]}
    assert set(GUIDE_MODELS) <= set(by_id)
    for entry in body["data"]:
        assert set(entry) == LISTING_KEYS
        assert entry["object"] == "model" and entry["owned_by"] == "exo"
        assert entry["hugging_face_id"] == entry["id"]


def test_sizes_are_real_and_megabytes_are_rounded_mib(exo_sim: RunningSim) -> None:
    by_id = {e["id"]: e for e in exo_sim.client.get("/models").json()["data"]}
    for model_id, gib in GUIDE_GIB.items():
        card = CATALOGUE[model_id]
        assert card.storage_bytes / 2**30 == pytest.approx(gib, rel=0.01)
        assert by_id[model_id]["storage_size_megabytes"] == round(card.storage_bytes / 2**20)
        assert card.n_layers == GUIDE_MODELS[model_id][1]
    assert CATALOGUE[DEEPSEEK].storage_bytes == 405_874_409_472
    assert CATALOGUE[DEEPSEEK].hidden_size == 7168
    assert by_id[DEEPSEEK]["storage_size_megabytes"] == 387_072


def test_model_card_is_camel_case(exo_sim: RunningSim) -> None:
    card = CATALOGUE[LLAMA_1B].camel()
    assert set(card) == {"modelId", "storageSize", "nLayers", "hiddenSize", "supportsTensor",
                         "numKeyValueHeads", "tasks", "family", "quantization", "baseModel",
                         "capabilities", "contextLength"}
    assert card["storageSize"] == {"inBytes": CATALOGUE[LLAMA_1B].storage_bytes}


def test_status_downloaded_keeps_models_completed_on_some_node(
    make_exo_sim: Callable[..., RunningSim],
) -> None:
    exo_sim = make_exo_sim(downloaded={LLAMA_1B: ["BETA"]})
    listed = exo_sim.client.get("/models", params={"status": "downloaded"}).json()["data"]
    ids = [entry["id"] for entry in listed]
    assert ids == [LLAMA_1B]
    assert len(exo_sim.client.get("/v1/models").json()["data"]) == len(GUIDE_MODELS)


def test_default_downloads_are_the_guides_four(exo_sim: RunningSim) -> None:
    ids = {e["id"] for e in exo_sim.client.get("/models?status=downloaded").json()["data"]}
    assert ids == {DEEPSEEK, LLAMA_1B, "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit",
                   "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"}
