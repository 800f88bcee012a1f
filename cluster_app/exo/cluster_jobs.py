"""Starting, stopping and restarting the whole exo cluster, as jobs on the control queue.

Start: the master first (its start output gives the bootstrap command the others join with),
then the other exo nodes in inventory order, each as an `exo.start` job on its own node's
control queue;
then a wait until exo answers with every exo node in its topology, RDMA-linked where both ends
expect it. Stop goes in reverse. The cluster job waits for its node jobs, so a worker serving
both queues needs a concurrency of at least 2.
"""

from __future__ import annotations

import time
from contextlib import suppress
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from arthur_panel.celery import Lane
from arthur_panel.exceptions import Conflict, DomainError
from cluster_app.access.permissions import OPERATE_EXO
from cluster_app.exo import node_jobs
from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from cluster_app.exo.rules import cluster_problems, new_lines
from cluster_app.exo.state import normalise
from cluster_app.jobs import services
from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter, JobStopped
from cluster_app.models import Job, Node
from cluster_app.nodes.poll import inventory_node

OPERATIONS = {"start": "cluster.start", "stop": "cluster.stop", "restart": "cluster.restart"}
CLUSTER_KINDS = tuple(OPERATIONS.values())
WAIT_POLL = 0.3
# A node job no worker has run for this long: say why it may be stuck.
QUEUED_HINT_SECONDS = 10.0
CLUSTER_KEY = "cluster"


def exo_nodes() -> list[Node]:
    """The exo nodes in start order: the master first, then inventory order."""
    return sorted(Node.objects.filter(in_exo_cluster=True),
                  key=lambda node: node.role != Node.Role.MASTER)


def cluster_job_start(*, operation: str, user: Any = None) -> Job:
    """Queue a cluster start, stop or restart, or return the same one already active; Conflict
    while another cluster operation runs."""
    kind = OPERATIONS[operation]
    busy = (Job.objects.filter(kind__in=CLUSTER_KINDS, state__in=Job.ACTIVE)
            .exclude(kind=kind).first())
    if busy is not None:
        raise Conflict(f"{busy.kind} #{busy.pk} is {busy.state}; wait for it or cancel it.",
                       code="cluster_busy")
    nodes = exo_nodes()
    if not nodes:
        raise DomainError("No node is part of the exo cluster.", code="no_exo_nodes")
    if kind != "cluster.stop":
        for node in nodes:
            node_jobs.check_startable(node)
    job, _ = services.job_create(kind=kind, node=None, params={}, user=user, dedupe_key=CLUSTER_KEY)
    return job


class Steps:
    """The cluster job's progress: one step per node job, plus the final wait."""

    def __init__(self, reporter: JobReporter, total: int) -> None:
        self.reporter = reporter
        self.done = 0
        reporter.progress(0, total, unit="steps")

    def advance(self, message: str) -> None:
        self.done += 1
        self.reporter.progress(self.done, message=message)


def run_node_job(parent: Job, reporter: JobReporter, kind: str, node: Node) -> dict[str, Any]:
    """Start (or join) `kind` on `node` and wait for it, relaying its log; its result, or
    RuntimeError with its error. Cancelling the parent cancels it."""
    child = node_jobs.node_job_start(kind=kind, node=node, user=parent.created_by)
    reporter.log(f"{node}: {kind} job #{child.pk}")
    seen: list[str] = []
    unrun_since: float | None = None
    hinted = False
    try:
        while True:
            child.refresh_from_db()
            for line in new_lines(seen, child.log_tail):
                reporter.log(f"[{node}] {line}")
            seen = list(child.log_tail)
            if child.is_finished:
                break
            if _unrun(child):
                unrun_since = unrun_since or time.monotonic()
                unrun_for = time.monotonic() - unrun_since
                if unrun_for > node.exo_start_timeout:
                    raise TimeoutError(f"{node}: no worker ran {kind} job #{child.pk} for "
                                       f"{node.exo_start_timeout} s (is a worker consuming "
                                       f"{node.control_queue}?)")
                if unrun_for > QUEUED_HINT_SECONDS and not hinted:
                    hinted = True
                    reporter.log(f"{node}: no worker runs job #{child.pk}: is a worker "
                                 f"consuming {node.control_queue}, with a concurrency of 2 or "
                                 "more?")
            else:
                unrun_since = None
            reporter.tick()
            time.sleep(WAIT_POLL)
    except (JobStopped, TimeoutError):
        _cancel(child)
        raise
    if child.state != Job.State.SUCCEEDED:
        raise RuntimeError(f"{node}: {kind} job #{child.pk} {child.state}: "
                           f"{child.error or child.message}")
    return child.result or {}


def _unrun(child: Job) -> bool:
    """Whether no worker runs the node job: still queued, or running with its lease run out
    (its worker died, and no other has taken it over yet)."""
    if child.state == Job.State.QUEUED:
        return True
    stale = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS)
    return (child.state == Job.State.RUNNING and child.heartbeat_at is not None
            and child.heartbeat_at < stale)


def _cancel(child: Job) -> None:
    with suppress(Conflict):  # it finished meanwhile
        services.job_cancel(job=child)


def wait_for_cluster(reporter: JobReporter, nodes: list[Node], timeout: float) -> dict[str, Any]:
    """Wait until exo answers with every exo node in its topology and the expected RDMA links."""
    inventory = [inventory_node(node) for node in nodes]
    deadline = time.monotonic() + timeout
    last = ""
    with ExoClient(retries=0) as client:
        while True:
            try:
                view = normalise(client.state())
            except (ExoUnavailable, ExoError) as error:
                problems = [error.message]
            else:
                problems = cluster_problems(view, inventory)
                if not problems:
                    return {"exo_nodes": sorted(node.friendly_name for node in view.nodes),
                            "link_kinds": sorted({link.kind for link in view.links})}
            if "; ".join(problems) != last:
                last = "; ".join(problems)
                reporter.log(f"waiting: {last}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"exo at {settings.EXO_API_URL} not ready after {timeout:g} s: "
                                   f"{last}")
            reporter.tick()
            time.sleep(WAIT_POLL)


def start_cluster(job: Job, reporter: JobReporter, steps: Steps,
                  nodes: list[Node]) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    for node in nodes:
        results[node.name] = run_node_job(job, reporter, node_jobs.START, node)
        pid = results[node.name].get("pid")
        steps.advance(f"exo is running on {node}" + (f" (pid {pid})" if pid else ""))
    timeout = max(node.exo_start_timeout for node in nodes)
    cluster = wait_for_cluster(reporter, nodes, timeout)
    steps.advance(f"Cluster up: {', '.join(str(node) for node in nodes)} in exo's topology")
    return {"nodes": results, "cluster": cluster}


def stop_cluster(job: Job, reporter: JobReporter, steps: Steps,
                 nodes: list[Node]) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    for node in reversed(nodes):
        results[node.name] = run_node_job(job, reporter, node_jobs.STOP, node)
        steps.advance(f"exo stopped on {node}")
    return {"nodes": results}


def run_start(job: Job, reporter: JobReporter) -> dict[str, Any]:
    nodes = exo_nodes()
    return start_cluster(job, reporter, Steps(reporter, len(nodes) + 1), nodes)


def run_stop(job: Job, reporter: JobReporter) -> dict[str, Any]:
    nodes = exo_nodes()
    steps = Steps(reporter, len(nodes))
    result = stop_cluster(job, reporter, steps, nodes)
    reporter.progress(steps.done, message="Cluster stopped")
    return result


def run_restart(job: Job, reporter: JobReporter) -> dict[str, Any]:
    nodes = exo_nodes()
    steps = Steps(reporter, 2 * len(nodes) + 1)
    stopped = stop_cluster(job, reporter, steps, nodes)
    started = start_cluster(job, reporter, steps, nodes)
    return {"stopped": stopped["nodes"], **started}


KINDS = (
    JobKind(name="cluster.start", label="Start the cluster", run=run_start, needs_node=False,
            lane=Lane.CONTROL, permission=OPERATE_EXO),
    JobKind(name="cluster.stop", label="Stop the cluster", run=run_stop, needs_node=False,
            lane=Lane.CONTROL, permission=OPERATE_EXO),
    JobKind(name="cluster.restart", label="Restart the cluster", run=run_restart,
            needs_node=False, lane=Lane.CONTROL, permission=OPERATE_EXO),
)
