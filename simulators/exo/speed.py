"""How fast an instance answers, by its placement (simulation only, not exo's code).

The model's speed (the guide's table, ``--model-speed``) is what one node does alone. Spread
over several nodes, every token waits on the link: the guide puts that parallelism overhead at
about 10-15% over RDMA (JACCL) and 30-40% over TCP (ring). Tensor sharding talks on every layer,
so it pays the most over TCP and the least over RDMA; a pipeline hands activations over once per
node and lands in between. Prefill runs many tokens per step: after the model's fixed start
(the guide's first-token time) it goes ``PREFILL_FACTOR`` times faster than generation, so the
prefill rate climbs with the prompt's length towards that ceiling. `/_sim/settings` changes
the overheads (`overheads`)."""

from __future__ import annotations

from collections.abc import Mapping

# Share of the single-node speed lost to talking between nodes, by (sharding, backend).
OVERHEADS: dict[tuple[str, str], float] = {
    ("Tensor", "MlxJaccl"): 0.125,
    ("Pipeline", "MlxJaccl"): 0.20,
    ("Pipeline", "MlxRing"): 0.25,
    ("Tensor", "MlxRing"): 0.35,
}
PREFILL_FACTOR = 20.0


def efficiency(sharding: str, meta: str, nodes: int,
               overheads: Mapping[tuple[str, str], float] = OVERHEADS) -> float:
    """The share of the single-node speed an instance keeps: 1 on one node."""
    if nodes <= 1:
        return 1.0
    return 1.0 - overheads.get((sharding, meta), overheads[("Tensor", "MlxRing")])


def overhead_key(sharding: str, meta: str) -> str:
    """How `/_sim/settings` names an overhead: `Tensor/MlxJaccl`."""
    return f"{sharding}/{meta}"


def generation_rate(single_node_tps: float, share: float) -> float:
    """Tokens per second while generating."""
    return single_node_tps * share


def prefill_seconds(prompt_tokens: int, single_node_tps: float, first_token_seconds: float,
                    share: float) -> float:
    """Seconds from the request to the first token: the fixed start, then the prompt at the
    prefill ceiling, both slowed by the placement's overhead."""
    ceiling = PREFILL_FACTOR * single_node_tps
    return (first_token_seconds + prompt_tokens / ceiling) / share
