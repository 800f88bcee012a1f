"""Feeds the pure planner from the catalogue and the live inventory."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast

from arthur_panel.exceptions import DomainError
from cluster_app.models import Node
from models_app.catalogue.selectors import model_by_name
from models_app.models import LlmModel
from models_app.planner.core import Plan, PlanModel, PlanNode, Tier, plan


def plan_model(model: LlmModel) -> PlanModel:
    return PlanModel(
        slug=model.slug, name=model.display_name, size_bytes=model.size_bytes,
        n_layers=model.n_layers or 1, hidden_size=model.hidden_size or 0,
        num_attention_heads=model.num_attention_heads,
        num_key_value_heads=model.num_key_value_heads,
        head_dim=model.head_dim, kv_latent_dim=model.kv_latent_dim,
        context_length=model.context_length,
        tensor_parallel=model.tensor_parallel == LlmModel.TensorParallel.REQUIRED,
        tier=cast(Tier, model.tier),  # the field's choices are the planner's tiers (tested)
        tier_reason=model.tier_reason,
    )


def plan_node(node: Node, *, live: bool) -> PlanNode:
    """Live memory while exo reports the node; its configured memory otherwise."""
    if live and node.is_live and node.ram_total:
        ram_total, ram_used = node.ram_total, node.ram_used
    else:
        ram_total, ram_used = node.ram_bytes, None
    return PlanNode(name=node.name, display_name=node.display_name, ram_total=ram_total,
                    ram_used=ram_used, in_cluster=node.in_exo_cluster)


def models_for(names: list[str]) -> list[LlmModel]:
    """The catalogue's models by any of their names, in order."""
    found = {name: model_by_name(name) for name in names}
    if missing := [name for name, model in found.items() if model is None]:
        raise DomainError(f"Not in the catalogue: {', '.join(missing)}.", code="unknown_model")
    models = [found[name] for name in names]
    if incomplete := [m.slug for m in models if m and not m.n_layers]:
        raise DomainError(f"No layer count known for {', '.join(incomplete)}: the planner needs "
                          "it to split the model.", code="incomplete_model")
    return [m for m in models if m]


def plan_nodes(*, live: bool) -> list[PlanNode]:
    return [plan_node(n, live=live) for n in Node.objects.all()]


def memory_plan(*, slugs: list[str], context_tokens: int, live: bool = True) -> Plan:
    models = [plan_model(m) for m in models_for(slugs)]
    return plan(models, plan_nodes(live=live), context_tokens=context_tokens)


def plan_payload(result: Plan, *, live_nodes: list[str]) -> dict[str, Any]:
    return {**asdict(result), "live_nodes": live_nodes}


def live_node_names() -> list[str]:
    return [n.name for n in Node.objects.live().filter(in_exo_cluster=True)]
