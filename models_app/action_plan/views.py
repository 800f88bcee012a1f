"""The guide's Recommended Action Plan as a live section of the Health page.

The Health page belongs to the cluster app, which never imports this one; the page fetches
this section from its own URL (server-rendered HTML) when it opens and again as jobs end, so
the import direction stays models_app -> cluster_app.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from arthur_panel.exceptions import DomainError, NotFound
from cluster_app.access.permissions import OPERATE_EXO
from cluster_app.logs.ring import recent_lines
from cluster_app.models import Node
from cluster_app.nodes.poll import cluster_snapshot
from cluster_app.nodes.units import format_gib
from models_app.action_plan.steps import (
    DEEPSEEK_V3,
    DONE,
    LLAMA_1B,
    ModelDownload,
    PlanFacts,
    plan_steps,
)
from models_app.catalogue.selectors import model_by_slug
from models_app.downloads.jobs import target_nodes
from models_app.downloads.matrix import downloads_matrix
from models_app.models import UsageRecord

# The line a runner logs once JACCL is up (its coordinator line comes earlier, while connecting).
JACCL_SETUP_LINE = "distributed initialization complete"


def _download(slug: str, matrix: dict[str, Any]) -> ModelDownload:
    try:
        model = model_by_slug(slug)
    except NotFound:
        return ModelDownload(slug, slug, "", in_catalogue=False)
    try:
        nodes = target_nodes(model, None)
    except DomainError:
        nodes = []
    row: dict[str, Any] = next((r for r in matrix["models"] if r["slug"] == slug), {"cells": {}})
    cells = {n.display_name: row["cells"].get(n.name, {}) for n in nodes}
    return ModelDownload(
        slug, model.display_name, format_gib(model.size_bytes),
        cells={label: cell.get("state", "absent") for label, cell in cells.items()},
        progress={label: cell.get("progress") or 0.0 for label, cell in cells.items()},
        # The same nodes the download button reaches: ALPHA, or every node for tensor models.
        body={"node": nodes[0].name} if len(nodes) == 1 else {})


def plan_facts(*, can_operate: bool = True) -> PlanFacts:
    snapshot = cluster_snapshot() or {}
    matrix = downloads_matrix()
    ready = [i["model_id"] for i in snapshot.get("instances", [])
             if i["sharding"] == "Tensor" and i["backend"] == "MlxJaccl" and i["status"] == "ready"]
    chat_ok = UsageRecord.objects.filter(api="chat", status="ok", model_id__in=ready).exists()
    lines_seen = bool(ready and not chat_ok and recent_lines(
        list(Node.objects.filter(in_exo_cluster=True).values_list("name", flat=True)),
        limit=1, query=JACCL_SETUP_LINE))
    messages = UsageRecord.objects.filter(api="messages").aggregate(
        count=Count("id"), last=Max("created_at"))
    last = messages["last"]
    return PlanFacts(
        llama_1b=_download(LLAMA_1B, matrix),
        deepseek_v3=_download(DEEPSEEK_V3, matrix),
        exo_reachable=bool(snapshot.get("reachable")),
        exo_error=snapshot.get("error") if snapshot else "the panel has not polled exo yet",
        offline_nodes=[n["display_name"] for n in snapshot.get("nodes", [])
                       if n["in_exo_cluster"] and n["status"] != Node.Status.ONLINE],
        jaccl_ready=ready,
        jaccl_chat_ok=chat_ok,
        jaccl_lines_seen=lines_seen,
        messages_requests=messages["count"],
        last_messages_at=f"{timezone.localtime(last):%Y-%m-%d %H:%M %Z}" if last else None,
        # Someone who may not start the cluster is sent to the Cluster page to see its state.
        cluster_start_url=reverse("api-cluster-start") if can_operate else None,
        cluster_page_url=reverse("cluster"),
        playground_url=reverse("playground"),
        integrations_url=reverse("integrations") + "#claude-code",
    )


def action_plan(request: HttpRequest) -> HttpResponse:
    steps = plan_steps(plan_facts(can_operate=request.user.has_perm(OPERATE_EXO)))
    return render(request, "models_app/_action_plan.html", {
        "steps": steps, "done": sum(step.state == DONE for step in steps)})
