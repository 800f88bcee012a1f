"""Memory planner: will the chosen models fit on the cluster, and where does each one go?

Pure: plain dataclasses in, plain dataclasses out (`dataclasses.asdict` gives the API shape).
Sizes are bytes. The guide's "GB" are GiB, and its rounding is kept so its tables come out
exactly: amounts in use round half-up ("422 GB"), headroom rounds down ("347 GB"), because
the panel must never promise memory that is not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from cluster_app.nodes.units import GIB

SAFE_PERCENT = 70
LIMIT_PERCENT = 92
DEFAULT_CONTEXT_TOKENS = 65536
DEFAULT_OVERHEAD_BYTES = 50 * GIB  # the guide's "~50 GB (7%) - OS, buffers, inference"

Tier = Literal["essential", "optional", "not_recommended"]
Risk = Literal["Low", "Medium", "High"]
Strategy = Literal["tensor", "whole", "layers"]


@dataclass(frozen=True)
class PlanModel:
    slug: str
    name: str
    size_bytes: int
    n_layers: int
    hidden_size: int
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None  # None: one KV head per attention head
    head_dim: int | None = None  # None: hidden_size // num_attention_heads
    kv_latent_dim: int | None = None  # MLA (DeepSeek): kv_lora_rank + qk_rope_head_dim
    kv_bytes_per_value: int = 2  # fp16 cache
    context_length: int | None = None
    tensor_parallel: bool = False
    tier: Tier = "optional"
    tier_reason: str = ""


@dataclass(frozen=True)
class PlanNode:
    name: str
    display_name: str
    ram_total: int
    ram_used: int | None = None  # None while the cluster is down: plan on configured memory
    in_cluster: bool = True


@dataclass(frozen=True)
class TableRow:
    """One line of the guide's "Recommended Configuration" table, cumulative down the list."""

    slug: str
    name: str
    size_bytes: int
    cumulative_bytes: int
    utilisation: float
    remaining_bytes: int
    risk: Risk
    not_recommended: bool
    tier_reason: str
    context_tokens: int
    context_capped: bool
    kv_cache_bytes: int
    size_label: str
    utilisation_label: str
    remaining_label: str


@dataclass(frozen=True)
class BudgetLine:
    label: str
    bytes: int
    share: float
    size_label: str
    share_label: str


@dataclass(frozen=True)
class Thresholds:
    total_bytes: int
    safe_bytes: int
    limit_bytes: int
    total_label: str
    safe_label: str
    limit_label: str


@dataclass(frozen=True)
class Totals:
    loaded_bytes: int
    utilisation: float
    risk: Risk
    kv_cache_bytes: int
    overhead_bytes: int
    in_use_bytes: int
    needed_bytes: int
    loaded_label: str
    utilisation_label: str
    needed_label: str


@dataclass(frozen=True)
class NodeShare:
    """The part of one model a node holds; tensor shares hold a slice of every layer."""

    slug: str
    strategy: Strategy
    layers: int
    weights_bytes: int
    kv_bytes: int


@dataclass(frozen=True)
class NodeFit:
    name: str
    display_name: str
    total_bytes: int
    used_bytes: int
    overhead_bytes: int
    shares: list[NodeShare]
    planned_bytes: int
    free_after_bytes: int
    utilisation: float
    limit_bytes: int
    over_limit: bool


@dataclass(frozen=True)
class Suggestion:
    unload: list[str]
    sentence: str


@dataclass(frozen=True)
class Plan:
    context_tokens: int
    rows: list[TableRow]
    totals: Totals
    budget: list[BudgetLine]
    thresholds: Thresholds
    nodes: list[NodeFit]
    fits: bool
    reasons: list[str]
    warnings: list[str]
    notes: list[str]
    suggestion: Suggestion | None


def _divide(numerator: int, denominator: int, *, down: bool) -> int:
    """Integer division rounded down, or to nearest with halves up; exact for any size."""
    return numerator // denominator if down else (2 * numerator + denominator) // (2 * denominator)


def format_gb(n_bytes: int, *, round_down: bool = False) -> str:
    """Return the guide's label: whole GB from 10 GB up, tenths below ("378 GB", "4.5 GB").

    Pass round_down=True for headroom (remaining, free buffer, thresholds).
    """
    tenths = _divide(n_bytes * 10, GIB, down=round_down)
    if abs(tenths) >= 100:
        return f"{_divide(n_bytes, GIB, down=round_down)} GB"
    return f"{tenths / 10:.1f} GB"


def format_share(part: int, whole: int) -> str:
    """Return part/whole as a whole percent rounded half-up; "<1%" for a sliver, as the guide."""
    if 0 < part * 100 < whole:
        return "<1%"
    return f"{_divide(part * 100, whole, down=False)}%" if whole > 0 else "0%"


def format_context(tokens: int) -> str:
    """65536 -> "64k"; counts that are not whole k-tokens keep their digits ("1,000")."""
    return f"{tokens // 1024}k" if tokens and tokens % 1024 == 0 else f"{tokens:,}"


def risk_for(used_bytes: int, total_bytes: int) -> Risk:
    """Low below 70% of the cluster, Medium from 70% to below 92%, High at 92% or more."""
    if used_bytes * 100 >= LIMIT_PERCENT * total_bytes:
        return "High"
    if used_bytes * 100 >= SAFE_PERCENT * total_bytes:
        return "Medium"
    return "Low"


def thresholds(total_bytes: int) -> Thresholds:
    """Return the safe zone (70%) and the limit (92%) of this much memory, rounded down."""
    safe = total_bytes * SAFE_PERCENT // 100
    limit = total_bytes * LIMIT_PERCENT // 100
    return Thresholds(total_bytes, safe, limit, format_gb(total_bytes),
                      format_gb(safe, round_down=True), format_gb(limit, round_down=True))


def context_for(model: PlanModel, context_tokens: int) -> int:
    """Return the tokens the model can actually hold: the request capped at its context_length."""
    return min(context_tokens, model.context_length or context_tokens)


def kv_bytes_per_token(model: PlanModel) -> int:
    """Return the KV cache bytes one token costs across all of the model's layers."""
    if model.kv_latent_dim is not None:
        # MLA caches one compressed latent per layer, shared by K and V, instead of both per head
        return model.n_layers * model.kv_latent_dim * model.kv_bytes_per_value
    heads = model.num_attention_heads
    kv_heads = model.num_key_value_heads or heads
    head_dim = model.head_dim or (model.hidden_size // heads if heads else None)
    if not kv_heads or not head_dim:
        raise ValueError(f"{model.slug}: no attention heads given, so its KV cache has no size")
    return 2 * model.n_layers * kv_heads * head_dim * model.kv_bytes_per_value


def kv_cache_bytes(model: PlanModel, context_tokens: int) -> int:
    """Return the KV cache for context_tokens (capped at the model's context_length)."""
    return kv_bytes_per_token(model) * context_for(model, context_tokens)


def _apportion(amount: int, weights: list[int]) -> list[int]:
    """Split amount in proportion to weights, in whole units that add up exactly.

    Largest remainder wins the leftover units; ties go to the earlier entry (config order).
    """
    total = sum(weights)
    exact = [amount * weight for weight in weights]
    parts = [numerator // total for numerator in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: -(exact[i] % total))
    for i in by_remainder[: amount - sum(parts)]:
        parts[i] += 1
    return parts


def _node_limit(node: PlanNode) -> int:
    return node.ram_total * LIMIT_PERCENT // 100


def _split(model: PlanModel, kv: int, nodes: list[PlanNode],
           committed: list[int]) -> list[NodeShare | None]:
    """Return each node's share of the model (None where it holds none), given what is committed.

    Tensor-parallel models go evenly on every node, as exo shards them. A pipeline model goes
    whole on the node with the most free memory among those that stay within their 92% limit
    (no hop between nodes per token); failing that, whole layers in proportion to free memory.
    """
    if model.tensor_parallel:
        even = [1] * len(nodes)
        return [NodeShare(model.slug, "tensor", model.n_layers, weights, cache)
                for weights, cache in zip(_apportion(model.size_bytes, even),
                                          _apportion(kv, even), strict=True)]
    free = [max(0, node.ram_total - used) for node, used in zip(nodes, committed, strict=True)]
    roomy = [i for i, node in enumerate(nodes)
             if committed[i] + model.size_bytes + kv <= _node_limit(node)]
    if roomy:
        best = max(roomy, key=lambda i: free[i])  # max() keeps the first of equals
        return [NodeShare(model.slug, "whole", model.n_layers, model.size_bytes, kv)
                if i == best else None for i in range(len(nodes))]
    # With no free memory anywhere, spread by size so the plan still shows the overflow per node
    layers = _apportion(model.n_layers, free if sum(free) else [n.ram_total for n in nodes])
    # Weights and cache are per layer, so they follow the layer counts
    return [NodeShare(model.slug, "layers", count, weights, cache) if count else None
            for count, weights, cache in zip(layers, _apportion(model.size_bytes, layers),
                                             _apportion(kv, layers), strict=True)]


def _place(models: list[PlanModel], nodes: list[PlanNode], context_tokens: int,
           overhead_bytes: int) -> list[NodeFit]:
    """Place the models in order on the nodes; the overhead is spread in proportion to memory."""
    overheads = _apportion(overhead_bytes, [node.ram_total for node in nodes])
    committed = [(node.ram_used or 0) + overhead
                 for node, overhead in zip(nodes, overheads, strict=True)]
    shares: list[list[NodeShare]] = [[] for _ in nodes]
    for model in models:
        for i, share in enumerate(_split(model, kv_cache_bytes(model, context_tokens),
                                         nodes, committed)):
            if share is not None:
                shares[i].append(share)
                committed[i] += share.weights_bytes + share.kv_bytes
    fits = []
    for node, overhead, held, holding in zip(nodes, overheads, shares, committed, strict=True):
        planned = sum(share.weights_bytes + share.kv_bytes for share in held)
        fits.append(NodeFit(node.name, node.display_name, node.ram_total, node.ram_used or 0,
                            overhead, held, planned, node.ram_total - holding,
                            holding / node.ram_total, _node_limit(node),
                            holding > _node_limit(node)))
    return fits


def _needed_bytes(models: list[PlanModel], nodes: list[PlanNode], context_tokens: int,
                  overhead_bytes: int) -> int:
    """Return what the plan asks of the cluster: memory in use, weights, caches and overhead."""
    return (sum(node.ram_used or 0 for node in nodes) + overhead_bytes
            + sum(model.size_bytes + kv_cache_bytes(model, context_tokens) for model in models))


def _assess(models: list[PlanModel], nodes: list[PlanNode], context_tokens: int,
            overhead_bytes: int) -> tuple[list[NodeFit], list[str]]:
    """Return the per-node fit and the reasons the plan does not fit (none when it does)."""
    if not nodes:
        return [], ["No node is in the cluster."]
    limit = thresholds(sum(node.ram_total for node in nodes)).limit_bytes
    needed = _needed_bytes(models, nodes, context_tokens, overhead_bytes)
    in_use = sum(node.ram_used or 0 for node in nodes)
    reasons = []
    if needed > limit:
        held = f" ({format_gb(in_use)} of it already in use)" if in_use else ""
        reasons.append(f"Needs {format_gb(needed)} with a {format_context(context_tokens)} "
                       f"context{held}, the 92% limit is {format_gb(limit, round_down=True)}.")
    fits = _place(models, nodes, context_tokens, overhead_bytes)
    reasons += [f"{fit.display_name} would hold {format_gb(fit.total_bytes - fit.free_after_bytes)}"
                f", over its 92% limit of {format_gb(fit.limit_bytes, round_down=True)}."
                for fit in fits if fit.over_limit]
    return fits, reasons


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _suggest(models: list[PlanModel], nodes: list[PlanNode], context_tokens: int,
             overhead_bytes: int) -> Suggestion | None:
    """Return the fewest models to unload for the plan to fit, or None if unloading cannot help.

    Not-recommended models go first, then the largest: combinations() keeps that order, so the
    first fitting set of each size is the preferred one. Plans hold a handful of models.
    """
    order = sorted(models, key=lambda m: (m.tier != "not_recommended", -m.size_bytes))
    for count in range(1, len(order) + 1):
        for removed in combinations(order, count):
            slugs = {model.slug for model in removed}
            kept = [model for model in models if model.slug not in slugs]
            if not _assess(kept, nodes, context_tokens, overhead_bytes)[1]:
                return Suggestion([model.slug for model in removed],
                                  f"Fits if you unload {_join([m.name for m in removed])}.")
    return None


def _rows(models: list[PlanModel], context_tokens: int, total: int) -> list[TableRow]:
    rows = []
    cumulative = 0
    for model in models:
        cumulative += model.size_bytes
        tokens = context_for(model, context_tokens)
        rows.append(TableRow(
            model.slug, model.name, model.size_bytes, cumulative,
            cumulative / total if total else 0.0, total - cumulative, risk_for(cumulative, total),
            model.tier == "not_recommended", model.tier_reason, tokens, tokens < context_tokens,
            kv_cache_bytes(model, context_tokens), format_gb(model.size_bytes),
            format_share(cumulative, total), format_gb(total - cumulative, round_down=True)))
    return rows


def _budget(models: list[PlanModel], total: int, kv: int, in_use: int, overhead_bytes: int,
            context_tokens: int) -> list[BudgetLine]:
    """Return the guide's "Memory Budget Breakdown", with cache and live use when there are any."""
    parts = [(model.name, model.size_bytes) for model in models]
    if kv:
        parts.append((f"KV cache ({format_context(context_tokens)} context)", kv))
    if in_use:
        parts.append(("In use now", in_use))
    parts.append(("Overhead", overhead_bytes))
    lines = [BudgetLine(label, size, size / total if total else 0.0, format_gb(size),
                        format_share(size, total)) for label, size in parts]
    free = total - sum(size for _, size in parts)
    lines.append(BudgetLine("Free buffer", free, free / total if total else 0.0,
                            format_gb(free, round_down=True), format_share(free, total)))
    return lines


def plan(models: list[PlanModel], nodes: list[PlanNode], *,
         context_tokens: int = DEFAULT_CONTEXT_TOKENS,
         overhead_bytes: int = DEFAULT_OVERHEAD_BYTES) -> Plan:
    """Return the plan for loading models, in order, on the nodes that are in the cluster.

    Live used memory counts on top of the overhead, which stays reserved for inference buffers;
    the chosen models are taken to be not loaded yet.
    """
    members = [node for node in nodes if node.in_cluster]
    total = sum(node.ram_total for node in members)
    loaded = sum(model.size_bytes for model in models)
    kv = sum(kv_cache_bytes(model, context_tokens) for model in models)
    in_use = sum(node.ram_used or 0 for node in members)
    needed = _needed_bytes(models, members, context_tokens, overhead_bytes)
    node_fits, reasons = _assess(models, members, context_tokens, overhead_bytes)
    totals = Totals(loaded, loaded / total if total else 0.0, risk_for(loaded, total), kv,
                    overhead_bytes, in_use, needed, format_gb(loaded), format_share(loaded, total),
                    format_gb(needed))
    warnings = [f"{model.name} is not recommended: {model.tier_reason}" if model.tier_reason
                else f"{model.name} is not recommended."
                for model in models if model.tier == "not_recommended"]
    notes = [f"{model.name}: context capped at its maximum of "
             f"{format_context(model.context_length)} tokens."
             for model in models
             if model.context_length is not None and model.context_length < context_tokens]
    return Plan(
        context_tokens, _rows(models, context_tokens, total), totals,
        _budget(models, total, kv, in_use, overhead_bytes, context_tokens), thresholds(total),
        node_fits, not reasons, reasons, warnings, notes,
        _suggest(models, members, context_tokens, overhead_bytes) if reasons else None)
