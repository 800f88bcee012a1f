"""The built-in model catalogue: the cluster guide's models with real sizes and shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GIB = 2**30


@dataclass(frozen=True)
class ModelCard:
    model_id: str
    name: str
    description: str
    storage_bytes: int
    n_layers: int
    hidden_size: int
    num_key_value_heads: int
    context_length: int
    supports_tensor: bool
    family: str
    quantization: str
    base_model: str
    tokens_per_second: float
    first_token_seconds: float
    created: int = 1735689600  # 2025-01-01, a fixed "created" keeps /models stable

    @property
    def storage_megabytes(self) -> int:
        return round(self.storage_bytes / 2**20)

    @property
    def dir_name(self) -> str:
        # exo keeps a model at <models dir>/<org>--<name>/
        return self.model_id.replace("/", "--")

    def camel(self) -> dict[str, Any]:
        """The nested, camelCase card exo puts inside shards, downloads and API answers."""
        return {
            "modelId": self.model_id,
            "storageSize": {"inBytes": self.storage_bytes},
            "nLayers": self.n_layers,
            "hiddenSize": self.hidden_size,
            "supportsTensor": self.supports_tensor,
            "numKeyValueHeads": self.num_key_value_heads,
            "tasks": ["TextGeneration"],
            "family": self.family,
            "quantization": self.quantization,
            "baseModel": self.base_model,
            "capabilities": ["text"],
            "contextLength": self.context_length,
        }

    def listing(self) -> dict[str, Any]:
        """One entry of ``GET /models`` (snake_case at this level)."""
        return {
            "id": self.model_id,
            "object": "model",
            "created": self.created,
            "owned_by": "exo",
            "hugging_face_id": self.model_id,
            "name": self.name,
            "description": self.description,
            "context_length": self.context_length,
            "tags": [],
            "storage_size_megabytes": self.storage_megabytes,
            "supports_tensor": self.supports_tensor,
            "tasks": ["TextGeneration"],
            "is_custom": False,
            "family": self.family,
            "quantization": self.quantization,
            "base_model": self.base_model,
            "capabilities": ["text"],
        }


def _gib(value: float) -> int:
    return round(value * GIB)


# Speeds and first-token times are the cluster guide's benchmark table; models it does not
# benchmark get a figure scaled by size.
CATALOGUE: dict[str, ModelCard] = {
    card.model_id: card
    for card in (
        ModelCard(
            model_id="mlx-community/DeepSeek-V3-4bit",
            name="DeepSeek V3 4-bit",
            description="DeepSeek V3 (671B MoE) quantised to 4 bits.",
            storage_bytes=405_874_409_472,  # exo's card: 378.0 GiB
            n_layers=61,
            hidden_size=7168,
            num_key_value_heads=128,
            context_length=163_840,
            supports_tensor=True,
            family="deepseek",
            quantization="4bit",
            base_model="DeepSeek V3",
            tokens_per_second=161.5,
            first_token_seconds=2.5,
        ),
        ModelCard(
            model_id="mlx-community/DeepSeek-V3-8bit",
            name="DeepSeek V3 8-bit",
            description="DeepSeek V3 (671B MoE) quantised to 8 bits.",
            storage_bytes=_gib(712),
            n_layers=61,
            hidden_size=7168,
            num_key_value_heads=128,
            context_length=163_840,
            supports_tensor=True,
            family="deepseek",
            quantization="8bit",
            base_model="DeepSeek V3",
            tokens_per_second=161.5,
            first_token_seconds=3.0,
        ),
        ModelCard(
            model_id="mlx-community/Llama-3.2-1B-Instruct-4bit",
            name="Llama 3.2 1B 4-bit",
            description="Meta Llama 3.2 1B Instruct, 4-bit.",
            storage_bytes=_gib(1.24),
            n_layers=16,
            hidden_size=2048,
            num_key_value_heads=8,
            context_length=131_072,
            supports_tensor=True,
            family="llama",
            quantization="4bit",
            base_model="Llama 3.2 1B",
            tokens_per_second=5000.0,
            first_token_seconds=0.05,
        ),
        ModelCard(
            model_id="mlx-community/Meta-Llama-3.1-8B-Instruct-4bit",
            name="Llama 3.1 8B 4-bit",
            description="Meta Llama 3.1 8B Instruct, 4-bit.",
            storage_bytes=_gib(4.5),
            n_layers=32,
            hidden_size=4096,
            num_key_value_heads=8,
            context_length=131_072,
            supports_tensor=True,
            family="llama",
            quantization="4bit",
            base_model="Llama 3.1 8B",
            tokens_per_second=3000.0,
            first_token_seconds=0.2,
        ),
        ModelCard(
            model_id="mlx-community/Meta-Llama-3.1-70B-Instruct-4bit",
            name="Llama 3.1 70B 4-bit",
            description="Meta Llama 3.1 70B Instruct, 4-bit.",
            storage_bytes=40_652_242_944,  # 37.9 GiB, the figure in exo's memory error
            n_layers=80,
            hidden_size=8192,
            num_key_value_heads=8,
            context_length=131_072,
            supports_tensor=True,
            family="llama",
            quantization="4bit",
            base_model="Llama 3.1 70B",
            tokens_per_second=1500.0,
            first_token_seconds=0.6,
        ),
        ModelCard(
            model_id="mlx-community/Qwen2.5-Coder-32B-Instruct-4bit",
            name="Qwen2.5 Coder 32B 4-bit",
            description="Qwen2.5 Coder 32B Instruct, 4-bit.",
            storage_bytes=_gib(18),
            n_layers=64,
            hidden_size=5120,
            num_key_value_heads=8,
            context_length=32_768,
            supports_tensor=True,
            family="qwen",
            quantization="4bit",
            base_model="Qwen2.5 Coder 32B",
            tokens_per_second=2000.0,
            first_token_seconds=0.4,
        ),
        ModelCard(
            model_id="mlx-community/Mistral-Large-Instruct-2407-4bit",
            name="Mistral Large 2407 4-bit",
            description="Mistral Large Instruct 2407 (123B), 4-bit.",
            storage_bytes=_gib(67),
            n_layers=88,
            hidden_size=12288,
            num_key_value_heads=8,
            context_length=131_072,
            supports_tensor=True,
            family="mistral",
            quantization="4bit",
            base_model="Mistral Large 2407",
            tokens_per_second=900.0,
            first_token_seconds=0.9,
        ),
        ModelCard(
            # exo has no tensor sharding for Mixtral's MoE layers.
            model_id="mlx-community/Mixtral-8x22B-Instruct-v0.1-4bit",
            name="Mixtral 8x22B 4-bit",
            description="Mistral Mixtral 8x22B Instruct v0.1 (MoE), 4-bit.",
            storage_bytes=_gib(87),
            n_layers=56,
            hidden_size=6144,
            num_key_value_heads=8,
            context_length=65_536,
            supports_tensor=False,
            family="mistral",
            quantization="4bit",
            base_model="Mixtral 8x22B",
            tokens_per_second=700.0,
            first_token_seconds=1.0,
        ),
    )
}

# The guide's recommended set: present on every node at start unless told otherwise.
RECOMMENDED: tuple[str, ...] = (
    "mlx-community/Llama-3.2-1B-Instruct-4bit",
    "mlx-community/DeepSeek-V3-4bit",
    "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit",
    "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit",
)
