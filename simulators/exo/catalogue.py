"""Model cards: exo's own built-in cards for the cluster guide's models, and cards made from a
Hub repo's config the way exo's ``POST /models/add`` makes them.

Only five of the guide's models have a built-in card in exo (v1.0.71 and main alike): the guide's
DeepSeek V3 is exo's ``DeepSeek-V3.1`` card, and Qwen2.5-Coder-32B, Mistral Large 2407 and
Mixtral 8x22B have none, so the simulator does not know them until they are added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

GIB = 2**30
TEXT_GENERATION = "TextGeneration"
ALL_BACKENDS = ("MlxMetal", "MlxCpu", "MlxCuda", "Vllm")
# The backends exo's inference card files list for these models (main; v1.0.71 has no field).
MLX_BACKENDS = ("MlxMetal", "MlxCuda", "MlxCpu")

# config.json architectures exo shards by tensors (exo's ConfigData.supports_tensor).
TENSOR_ARCHITECTURES = frozenset({
    "Glm4MoeLiteForCausalLM", "GlmMoeDsaForCausalLM", "DeepseekV4ForCausalLM",
    "DeepseekV32ForCausalLM", "DeepseekV3ForCausalLM", "Qwen3NextForCausalLM",
    "Qwen3MoeForCausalLM", "Qwen3_5MoeForConditionalGeneration",
    "Qwen3_5ForConditionalGeneration", "Qwen3VLForConditionalGeneration", "MiniMaxM2ForCausalLM",
    "LlamaForCausalLM", "GptOssForCausalLM", "Step3p5ForCausalLM", "NemotronHForCausalLM",
    "Gemma4ForConditionalGeneration",
})
# config.json keys exo accepts for the layer count, in its order.
LAYER_KEYS = ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "num_decoder_layers",
              "decoder_layers")


@dataclass(frozen=True)
class ModelCard:
    model_id: str
    storage_bytes: int
    n_layers: int
    hidden_size: int
    supports_tensor: bool
    num_key_value_heads: int | None
    context_length: int = 0
    family: str = ""
    quantization: str = ""
    base_model: str = ""
    capabilities: tuple[str, ...] = ()
    backends: tuple[str, ...] = MLX_BACKENDS
    reasoning_dialect: str = "none"
    trust_remote_code: bool = True
    is_custom: bool = False
    sampling: dict[str, float] = field(default_factory=dict)  # temperature, top_p

    @property
    def storage_megabytes(self) -> int:
        return round(self.storage_bytes / 2**20)

    @property
    def short_name(self) -> str:
        """exo's ``ModelId.short()``: the part after the organisation."""
        return self.model_id.split("/")[-1]

    @property
    def dir_name(self) -> str:
        # exo keeps a model at <models dir>/<org>--<name>/
        return self.model_id.replace("/", "--")


def _card(model_id: str, size: int, layers: int, hidden: int, kv_heads: int, context: int,
          family: str, base: str, capabilities: tuple[str, ...] = ("text",),
          dialect: str = "none", quantization: str = "4bit", temperature: float = 0.6,
          top_p: float = 0.9) -> ModelCard:
    return ModelCard(
        model_id=model_id, storage_bytes=size, n_layers=layers, hidden_size=hidden,
        supports_tensor=True, num_key_value_heads=kv_heads, context_length=context,
        family=family, quantization=quantization, base_model=base, capabilities=capabilities,
        reasoning_dialect=dialect, sampling={"temperature": temperature, "top_p": top_p},
    )


_DEEPSEEK = ("text", "thinking", "thinking_toggle")

# exo's resources/inference_model_cards/*.toml for the guide's models, as exo ships them.
BUILT_IN: dict[str, ModelCard] = {
    card.model_id: card
    for card in (
        _card("mlx-community/DeepSeek-V3.1-4bit", 405_874_409_472, 61, 7168, 128, 131_072,
              "deepseek", "DeepSeek V3.1", _DEEPSEEK, "post_last_user", top_p=0.95),
        _card("mlx-community/DeepSeek-V3.1-8bit", 765_577_920_512, 61, 7168, 128, 131_072,
              "deepseek", "DeepSeek V3.1", _DEEPSEEK, "post_last_user", "8bit", top_p=0.95),
        _card("mlx-community/Llama-3.2-1B-Instruct-4bit", 729_808_896, 16, 2048, 8, 131_072,
              "llama", "Llama 3.2 1B"),
        _card("mlx-community/Meta-Llama-3.1-8B-Instruct-4bit", 4_637_851_648, 32, 4096, 8,
              131_072, "llama", "Llama 3.1 8B"),
        _card("mlx-community/Meta-Llama-3.1-70B-Instruct-4bit", 40_652_242_944, 80, 8192, 8,
              131_072, "llama", "Llama 3.1 70B"),
    )
}

# The guide's recommended set: present on every node at start unless told otherwise.
RECOMMENDED: tuple[str, ...] = (
    "mlx-community/Llama-3.2-1B-Instruct-4bit",
    "mlx-community/DeepSeek-V3.1-4bit",
    "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit",
    "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit",
)

# Simulation only, not exo's: the guide's benchmark table (tokens/s, seconds to first token).
GUIDE_SPEEDS: dict[str, tuple[float, float]] = {
    "mlx-community/DeepSeek-V3.1-4bit": (161.5, 2.5),
    "mlx-community/DeepSeek-V3.1-8bit": (161.5, 3.0),
    "mlx-community/Llama-3.2-1B-Instruct-4bit": (5000.0, 0.05),
    "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit": (3000.0, 0.2),
    "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit": (1500.0, 0.6),
}
# Models the guide does not benchmark: speed falls with size as memory bandwidth bounds it
# (the 70B's figures scaled), kept within the guide's range.
_BYTES_TIMES_TOKENS = 6.1e13
_BYTES_PER_FIRST_TOKEN_SECOND = 6.8e10


def speed_of(card: ModelCard) -> tuple[float, float]:
    """(tokens per second, seconds to the first token) the simulator generates at."""
    if card.model_id in GUIDE_SPEEDS:
        return GUIDE_SPEEDS[card.model_id]
    size = max(card.storage_bytes, 1)
    return (min(5000.0, max(20.0, _BYTES_TIMES_TOKENS / size)),
            min(5.0, max(0.05, size / _BYTES_PER_FIRST_TOKEN_SECOND)))


class CardError(ValueError):
    """A config.json exo cannot make a card from; the text is what pydantic would say."""


def card_from_config(model_id: str, config: dict[str, Any], total_size: int) -> ModelCard:
    """The custom card exo's ``ModelCard.fetch_from_hf`` makes from a repo's config.json and
    its safetensors total: no family, quantization or capabilities, every backend."""
    merged = dict(config)
    text_config = config.get("text_config")
    if isinstance(text_config, dict):
        # exo reads a multimodal model's numbers from its text part.
        merged.update({k: v for k, v in text_config.items() if v is not None})
    layers = next((merged[k] for k in LAYER_KEYS if merged.get(k) is not None), None)
    if not isinstance(layers, int) or isinstance(layers, bool) or layers <= 0:
        raise CardError("1 validation error for ConfigData\nnum_hidden_layers\n  Field required")
    hidden = merged.get("hidden_size")
    if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden <= 0:
        raise CardError("1 validation error for ModelCard\nhidden_size\n"
                        "  Input should be greater than 0")
    kv_heads = merged.get("num_key_value_heads")
    architectures = merged.get("architectures")
    return ModelCard(
        model_id=model_id,
        storage_bytes=total_size,
        n_layers=layers,
        hidden_size=hidden,
        supports_tensor=isinstance(architectures, list) and len(architectures) == 1
        and architectures[0] in TENSOR_ARCHITECTURES,
        num_key_value_heads=kv_heads if isinstance(kv_heads, int) and kv_heads > 0 else None,
        context_length=int(merged.get("max_position_embeddings") or 0),
        backends=ALL_BACKENDS,
        trust_remote_code=False,
        is_custom=True,
    )


def file_layout(card: ModelCard, file_bytes: int) -> list[tuple[str, int]]:
    """The weight files of the model, as mlx-community shards them: ``model-0000i-of-0000n``
    of ``file_bytes`` each, the last one smaller."""
    count = max(1, math.ceil(card.storage_bytes / file_bytes))
    return [
        (f"model-{index + 1:05d}-of-{count:05d}.safetensors",
         min(file_bytes, card.storage_bytes - index * file_bytes))
        for index in range(count)
    ]
