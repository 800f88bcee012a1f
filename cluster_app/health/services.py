"""Health checks, run and stored: the cluster checks here, each node's checks on its own control
queue (`node.<name>.control`), the latest result per check and scope kept; and the report the
page and the API read. Runs every HEALTH_CHECK_SECONDS from beat, and on demand as a `health.run`
job."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from arthur_panel.celery import Lane
from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from cluster_app.exo.state import ClusterView, normalise
from cluster_app.health import asking, checks, probe
from cluster_app.health.checks import CLUSTER, NeededModel, Outcome
from cluster_app.health.deployment import PREFIX as DOCTOR_PREFIX
from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter, job_payload
from cluster_app.jobs.services import job_create, run_unless_under_way
from cluster_app.models import HealthResult, Job, Node
from cluster_app.nodes.live import match_nodes
from cluster_app.nodes.poll import inventory_node

logger = logging.getLogger(__name__)

HEALTH_RUN = "health.run"
# Sent by name: the tasks module imports this one, not the other way round.
PROBE_TASK = "cluster_app.tasks.health_probe_task"
NODE_ANSWER_SECONDS = 30.0
LOCK_KEY = "arthur:health-run-lock"
NOT_READ = "exo's state could not be read"


# --- cluster checks --------------------------------------------------------------------------

def cluster_checks(nodes: list[Node], *, client: ExoClient
                   ) -> tuple[list[Outcome], dict[str, list[NeededModel]] | None]:
    """exo reachable, nodes and memory, memory pressure per node; and which models each node's
    shards need (None when exo's state could not be read)."""
    inventory = [inventory_node(node) for node in nodes]
    started = time.perf_counter()
    try:
        view = normalise(client.state())
    except (ExoUnavailable, ExoError) as exc:
        return [checks.exo_api(url=client.base_url, error=exc.message),
                checks.not_checked("cluster_nodes", CLUSTER, NOT_READ, error=exc.message),
                *[checks.not_checked("memory_pressure", node.name, NOT_READ)
                  for node in inventory if node.in_exo_cluster]], None
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    matched = match_nodes(view.nodes, [node for node in inventory if node.in_exo_cluster])
    names = {view_node.node_id: name for name, view_node in matched.items()}
    outcomes = [checks.exo_api(url=client.base_url, error=None, elapsed_ms=elapsed_ms,
                               shape=view.shape),
                checks.cluster_nodes(view, inventory),
                *[checks.memory_pressure(node, matched.get(node.name))
                  for node in inventory if node.in_exo_cluster]]
    return outcomes, checks.needed_models(view, names, _repo_ids(view, client))


def _repo_ids(view: ClusterView, client: ExoClient) -> dict[str, str]:
    """exo's short model ids (v1.0.60-63) -> repo ids, from its `/models`; only when needed."""
    if all("/" in instance.model_id for instance in view.instances):
        return {}
    try:
        models = client.models()
    except (ExoUnavailable, ExoError):
        return {}
    return {m["id"]: m["hugging_face_id"] for m in models
            if isinstance(m, dict) and m.get("id") and m.get("hugging_face_id")}


# --- node checks, on the node's worker -------------------------------------------------------

def health_probe_reply(*, node_name: str, reply_key: str,
                       needed: list[dict[str, Any]] | None) -> None:
    """Run the node's checks here and push them to the run waiting on `reply_key`."""
    node = Node.objects.filter(name=node_name).first()
    if node is None:
        return
    models = None if needed is None else [NeededModel(**model) for model in needed]
    try:
        outcomes = probe.node_probe(node, models)
    except Exception as exc:  # the run must hear why, not wait out its timeout
        logger.exception("health probe failed on %s", node_name)
        outcomes = [Outcome(name, node.name, checks.FAIL,
                            f"The check failed on {node.display_name}: {exc}")
                    for name in checks.NODE_CHECKS]
    asking.reply(reply_key, {"node": node_name, "outcomes": [asdict(o) for o in outcomes]})


def _ask_nodes(nodes: list[Node], needed: dict[str, list[NeededModel]] | None,
               reply_key: str, timeout: float) -> None:
    for node in nodes:
        wire = None if needed is None else [asdict(model) for model in needed.get(node.name, [])]
        asking.send(PROBE_TASK, node, [node.name, reply_key, wire], timeout=timeout)


# --- a run -----------------------------------------------------------------------------------

def health_store(outcomes: list[Outcome], *, checked_at: datetime | None = None) -> None:
    """Keep each outcome as the latest result of its check and scope."""
    checked_at = checked_at or timezone.now()
    for outcome in outcomes:
        HealthResult.objects.update_or_create(
            name=outcome.name, scope=outcome.scope,
            defaults={"status": outcome.status, "summary": outcome.summary[:255],
                      "evidence": outcome.evidence, "hint": outcome.hint[:255],
                      "checked_at": checked_at})


def health_run(*, node_timeout: float = NODE_ANSWER_SECONDS,
               reporter: JobReporter | None = None) -> dict[str, Any]:
    """Every check once: the cluster's here, each in-cluster node's on its queue (waiting at
    most `node_timeout` for them); every result stored. Returns the run's summary."""
    nodes = list(Node.objects.filter(in_exo_cluster=True))
    steps = 1 + len(nodes)

    def report(done: int, message: str, outcomes: Sequence[Outcome] = ()) -> None:
        if reporter is not None:
            for o in outcomes:
                reporter.log(f"{o.status:<11} {o.scope:<8} {o.name}: {o.summary}")
            reporter.progress(done, steps, unit="steps", message=message)

    report(0, "Asking exo")
    with ExoClient(retries=0) as client:
        outcomes, needed = cluster_checks(nodes, client=client)
    health_store(outcomes)
    waiting = {node.name: node for node in nodes}
    report(1, _waiting_for(waiting), outcomes)
    reply_key = f"arthur:health:{uuid.uuid4().hex}"
    _ask_nodes(nodes, needed, reply_key, node_timeout)
    for answer in asking.answers(reply_key, set(waiting), node_timeout,
                                 idle=reporter.check if reporter is not None else None):
        del waiting[answer["node"]]
        answered = [Outcome(**fields) for fields in answer["outcomes"]]
        health_store(answered)
        outcomes += answered
        report(steps - len(waiting), _waiting_for(waiting), answered)
    for node in waiting.values():
        silent = checks.no_answer(inventory_node(node), node.control_queue, node_timeout)
        health_store(silent)
        outcomes += silent
        report(steps, _waiting_for({}), silent)
    counts = Counter(o.status for o in outcomes)
    summary = {"overall": checks.overall(counts), "counts": dict(counts),
               "silent_nodes": sorted(waiting)}
    report(steps, summary_line(summary))
    return summary


def _waiting_for(waiting: dict[str, Node]) -> str:
    if not waiting:
        return "All nodes answered or timed out"
    return "Waiting for " + ", ".join(node.display_name for node in waiting.values())


def summary_line(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    parts = [f"{counts[s]} {s}" for s in (checks.PASS, checks.WARN, checks.FAIL,
                                          checks.UNAVAILABLE) if counts.get(s)]
    silent = summary.get("silent_nodes")
    return f"{summary['overall'].upper()}: {', '.join(parts)}" + (
        f"; no answer from {', '.join(silent)}" if silent else "")


def run_health_job(job: Job, reporter: JobReporter) -> dict[str, Any]:
    return health_run(reporter=reporter)


HEALTH_RUN_KIND = JobKind(name=HEALTH_RUN, label="Health checks", run=run_health_job,
                          needs_node=False, lane=Lane.CONTROL)


def health_start(*, user: Any) -> tuple[Job, bool]:
    """Start a run as a job; a run already under way is returned instead of a second one."""
    return job_create(kind=HEALTH_RUN, node=None, params={}, user=user, dedupe_key="health")


def health_run_periodic() -> dict[str, Any] | None:
    """Beat's run, unless a run (periodic or a job) is already under way."""
    return run_unless_under_way(HEALTH_RUN, LOCK_KEY, NODE_ANSWER_SECONDS + 60, health_run)


# --- the report ------------------------------------------------------------------------------

def health_report(*, now: datetime | None = None) -> dict[str, Any]:
    """The latest results grouped by scope (the cluster, then each node), the overall status,
    and the run under way if any."""
    now = now or timezone.now()
    stale_after = 3 * settings.HEALTH_CHECK_SECONDS
    labels = {CLUSTER: "Cluster", **{n.name: n.display_name for n in Node.objects.all()}}
    order = {scope: index for index, scope in enumerate(labels)}
    check_order = {name: index for index, name in enumerate(checks.CHECKS)}
    results = sorted(HealthResult.objects.exclude(name__startswith=DOCTOR_PREFIX),
                     key=lambda r: (order.get(r.scope, len(order)), r.scope,
                                    check_order.get(r.name, len(check_order)), r.name))
    groups: dict[str, dict[str, Any]] = {}
    for result in results:
        age = max((now - result.checked_at).total_seconds(), 0.0)
        group = groups.setdefault(result.scope, {
            "scope": result.scope, "label": labels.get(result.scope, result.scope),
            "checks": []})
        group["checks"].append({
            "name": result.name, "title": checks.CHECKS.get(result.name, result.name),
            "scope": result.scope, "status": result.status, "summary": result.summary,
            "evidence": result.evidence, "hint": result.hint,
            "checked_at": result.checked_at.isoformat(), "age_seconds": round(age, 1),
            "stale": age > stale_after})
    running = Job.objects.select_related("node", "created_by").filter(
        kind=HEALTH_RUN, state__in=Job.ACTIVE).first()
    counts = Counter(r.status for r in results)
    return {
        "overall": checks.overall(counts),
        "counts": dict(counts),
        "checked_at": max((r.checked_at.isoformat() for r in results), default=None),
        "interval_seconds": settings.HEALTH_CHECK_SECONDS,
        "groups": list(groups.values()),
        "running_job": job_payload(running) if running else None,
    }
