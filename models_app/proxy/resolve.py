"""Names and routes for the proxy: catalogue names to exo ids, `auto` to a ready model."""

from __future__ import annotations

from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from cluster_app.exo.state import normalise
from cluster_app.nodes.poll import cluster_snapshot
from models_app.catalogue.selectors import model_by_name
from models_app.models import LlmModel, RouteRule
from models_app.proxy.rules import Route, choose


def resolve(name: str) -> tuple[str, str | None]:
    """exo's model id for a requested name, and the catalogue slug when the catalogue knows it."""
    model = model_by_name(name)
    if model is None:
        return name, None
    return model.exo_model_id or model.repo_id, model.slug


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


def ready_route(task: str | None) -> Route:
    ids = ready_model_ids()
    ready = {m.slug for m in LlmModel.objects.all() if (m.exo_model_id or m.repo_id) in ids}
    rules = {rule.task: rule.slugs for rule in RouteRule.objects.filter(enabled=True)}
    return choose(task, rules, ready)
