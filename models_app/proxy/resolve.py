"""Names and routes for the proxy: catalogue names to exo ids; `auto`, and names the router's
name routes match (Claude Code's `claude-*`), to a ready model."""

from __future__ import annotations

from dataclasses import dataclass

from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from cluster_app.exo.state import normalise
from cluster_app.nodes.poll import cluster_snapshot
from models_app.catalogue.selectors import model_by_name
from models_app.models import LlmModel, NameRoute, RouteRule
from models_app.proxy.rules import Route, choose, routed_task


@dataclass(frozen=True)
class Resolved:
    """What a requested name means: exo's model id, and the catalogue slug when the catalogue
    knows it; or, for a name a name route matches, the router task to ask (`task`)."""

    model_id: str
    slug: str | None = None
    task: str | None = None


def resolve(name: str) -> Resolved:
    """The catalogue's model of that name; else the task of the first name route that matches
    it; else the name itself, for exo to judge."""
    model = model_by_name(name)
    if model is not None:
        return Resolved(model.exo_id, model.slug)
    routes = NameRoute.objects.filter(enabled=True).select_related("rule")
    if task := routed_task(name, [(route.pattern, route.rule.task) for route in routes]):
        return Resolved("", task=task)
    return Resolved(name)


def ready_model_ids() -> set[str]:
    """exo ids of the models whose every runner is ready: from the latest poll, else from exo."""
    snapshot = cluster_snapshot()
    if snapshot and snapshot.get("reachable"):
        return {i["model_id"] for i in snapshot["instances"] if i["status"] == "ready"}
    try:
        with ExoClient(retries=0) as client:
            view = normalise(client.state())
    except (ExoUnavailable, ExoError):
        return set()
    return {i.model_id for i in view.instances if i.status == "ready"}


def ready_route(task: str | None, via: str = "auto") -> Route:
    """The first ready model of the task's rule; `via` names who asked (for the route header)."""
    ids = ready_model_ids()
    ready = {m.slug for m in LlmModel.objects.all() if m.exo_id in ids}
    rules = {rule.task: rule.slugs for rule in RouteRule.objects.filter(enabled=True)}
    return choose(task, rules, ready, via)
