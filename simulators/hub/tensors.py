"""Tensor layout of a served repo: names and dtypes as mlx writes them, sizes scaled down.

Real shapes are worked out from the config only to weigh each tensor; the served tensor is
1-D and holds that tensor's share of the scaled weight bytes, so a 20 MB DeepSeek still has
every layer's tensors with believable proportions and a valid safetensors header.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .manifest import ManifestError, RepoSpec

DTYPE_SIZES = {"U32": 4, "BF16": 2}


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str
    elements: int

    @property
    def nbytes(self) -> int:
        return self.elements * DTYPE_SIZES[self.dtype]


@dataclass(frozen=True)
class Shard:
    filename: str
    tensors: tuple[Tensor, ...]

    @property
    def data_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)


def shard_filenames(count: int) -> list[str]:
    """Returns the safetensors file names for `count` shards, as mlx_lm names them."""
    if count == 1:
        return ["model.safetensors"]
    return [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def plan_shards(spec: RepoSpec, served_bytes: int) -> list[Shard]:
    """Returns the shards holding `served_bytes` of tensor data laid out like `spec`'s model."""
    real = _real_tensors(spec.config, spec.quantization)
    tensors = _scale(real, served_bytes)
    return _split(tensors, spec)


def _real_tensors(config: dict[str, Any], quant: dict[str, int] | None) -> list[Tensor]:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config["num_key_value_heads"])
    vocab = int(config["vocab_size"])
    head_dim = int(config.get("head_dim") or hidden // heads)
    dense_ffn = int(config.get("intermediate_size") or 4 * hidden)
    experts = int(config.get("n_routed_experts") or config.get("num_local_experts") or 0)
    expert_ffn = int(config.get("moe_intermediate_size") or dense_ffn)
    shared = int(config.get("n_shared_experts") or 0)
    first_dense = int(config.get("first_k_dense_replace") or 0)

    def linear(name: str, out_dim: int, in_dim: int, stack: int = 1) -> list[Tensor]:
        if quant is None:
            return [Tensor(f"{name}.weight", "BF16", stack * out_dim * in_dim)]
        bits, group = quant["bits"], quant["group_size"]
        groups = stack * out_dim * max(1, in_dim // group)
        return [
            Tensor(f"{name}.weight", "U32", stack * out_dim * max(1, in_dim * bits // 32)),
            Tensor(f"{name}.scales", "BF16", groups),
            Tensor(f"{name}.biases", "BF16", groups),
        ]

    def mlp(prefix: str, ffn: int, stack: int = 1) -> list[Tensor]:
        return [
            *linear(f"{prefix}.gate_proj", ffn, hidden, stack),
            *linear(f"{prefix}.up_proj", ffn, hidden, stack),
            *linear(f"{prefix}.down_proj", hidden, ffn, stack),
        ]

    out = linear("model.embed_tokens", vocab, hidden)
    for i in range(int(config["num_hidden_layers"])):
        p = f"model.layers.{i}"
        out += [Tensor(f"{p}.input_layernorm.weight", "BF16", hidden)]
        out += linear(f"{p}.self_attn.q_proj", heads * head_dim, hidden)
        out += linear(f"{p}.self_attn.k_proj", kv_heads * head_dim, hidden)
        out += linear(f"{p}.self_attn.v_proj", kv_heads * head_dim, hidden)
        out += linear(f"{p}.self_attn.o_proj", hidden, heads * head_dim)
        out += [Tensor(f"{p}.post_attention_layernorm.weight", "BF16", hidden)]
        if experts and i >= first_dense:
            out += linear(f"{p}.mlp.gate", experts, hidden)
            out += mlp(f"{p}.mlp.switch_mlp", expert_ffn, stack=experts)
            if shared:
                out += mlp(f"{p}.mlp.shared_experts", expert_ffn * shared)
        else:
            out += mlp(f"{p}.mlp", dense_ffn)
    out += [Tensor("model.norm.weight", "BF16", hidden)]
    if not config.get("tie_word_embeddings", False):
        out += linear("lm_head", vocab, hidden)
    return out


def _scale(real: list[Tensor], target: int) -> list[Tensor]:
    total = sum(t.nbytes for t in real)
    # Every tensor keeps at least one element so the layout stays complete at any scale.
    scaled = [
        Tensor(t.name, t.dtype, max(1, t.nbytes * target // total // DTYPE_SIZES[t.dtype]))
        for t in real
    ]
    remainder = target - sum(t.nbytes for t in scaled)
    if remainder <= 0:
        return scaled
    # Top up so the data adds up to `target` exactly: whole words to the biggest tensor,
    # the last odd bytes to a BF16 one (a target with an odd byte count is rounded down).
    biggest = max(range(len(scaled)), key=lambda i: scaled[i].nbytes)
    big = scaled[biggest]
    size = DTYPE_SIZES[big.dtype]
    scaled[biggest] = Tensor(big.name, big.dtype, big.elements + remainder // size)
    leftover = remainder % size
    if leftover >= 2:
        norm = next(i for i, t in enumerate(scaled) if t.dtype == "BF16")
        t = scaled[norm]
        scaled[norm] = Tensor(t.name, t.dtype, t.elements + leftover // 2)
    return scaled


def _split(tensors: list[Tensor], spec: RepoSpec) -> list[Shard]:
    count = spec.shards
    total = sum(t.nbytes for t in tensors)
    groups: list[list[Tensor]] = [[] for _ in range(count)]
    before = 0
    for t in tensors:
        # A tensor goes to the shard its midpoint falls in, so shards come out near-equal.
        index = min(count - 1, math.floor((before + t.nbytes / 2) * count / total))
        groups[index].append(t)
        before += t.nbytes
    if any(not g for g in groups):
        raise ManifestError(f"{spec.repo_id}: {count} shards is too many for its tensor layout")
    return [Shard(name, tuple(g)) for name, g in zip(shard_filenames(count), groups, strict=True)]
