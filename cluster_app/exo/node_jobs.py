"""Starting and stopping exo on one node, as jobs on that node's own control queue, and the exo
process fields (pid, start time, version) its worker writes.

A start job runs the node's command, streams its output into the job's log, and succeeds once
exo lists the node under a new id (exo makes one at every start) while the process lives. A
command that never gets there is killed at the node's start timeout. exo outlives the worker
that started it: when that worker dies mid-start, the job's re-run (its lease ran out) follows
the exo it had started, kept on the job, rather than starting a second one.
"""

from __future__ import annotations

import os
import shlex
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from arthur_panel.celery import Lane
from arthur_panel.celery import app as celery_app
from arthur_panel.exceptions import Conflict, DomainError
from cluster_app.access.permissions import OPERATE_EXO
from cluster_app.exo import process as exo_process
from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from cluster_app.exo.process import ConsoleTail, EarlierStart, ExoStatus, Started
from cluster_app.exo.rules import (
    allowed_join,
    bootstrap_argv,
    build_env,
    capture_bootstrap,
    expand_argv,
    fresh_view,
    views_of,
)
from cluster_app.exo.state import NodeView, normalise
from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter
from cluster_app.jobs.services import job_create, job_keep
from cluster_app.models import Job, Node
from cluster_app.nodes.poll import inventory_node

START, STOP = "exo.start", "exo.stop"
# Where a start keeps, on its job, what a re-run needs to find the exo it started.
KEPT = "start"
READY_POLL = 0.5
LAST_LINES = 5
STATUS_EXPIRES = 15.0
# Sent by name: the tasks module imports this one, not the other way round.
STATUS_TASK = "cluster_app.tasks.exo_status_task"


def record_status(node: Node) -> ExoStatus:
    """Read exo's process on this machine and write it to the node's row, unless a reading
    begun later was written first: the worker's threads read side by side (a start job's and
    the periodic one), and a reading from before a start must not undo the start's."""
    checked = timezone.now()
    current = exo_process.status(node)
    Node.objects.filter(pk=node.pk).filter(
        Q(exo_checked_at__isnull=True) | Q(exo_checked_at__lt=checked)).update(
        exo_pid=current.pid, exo_started_at=current.started_at,
        exo_version=current.version[:40] or node.exo_version, exo_checked_at=checked)
    return current


def exo_status_refresh(*, node_name: str) -> None:
    """The periodic status read, on the node's own worker."""
    # Every 15 s per node: links (a full mesh) are not needed here.
    node = Node.objects.defer("links").filter(name=node_name).first()
    if node is not None:
        record_status(node)


def exo_status_fanout() -> None:
    """Ask each exo node's worker, on its own queue, for its exo process's status."""

    for node in Node.objects.filter(in_exo_cluster=True).only("name"):
        # A node whose worker is down must not collect a backlog of reads.
        celery_app.send_task(STATUS_TASK, args=[node.name], queue=node.control_queue,
                             expires=STATUS_EXPIRES)


def master_bootstrap() -> str:
    """The bootstrap command the exo master printed when the panel started the exo process
    that runs there now. Only that start job's own output counts: never the console of an exo
    started some other way, nor an earlier run's. DomainError when there is none."""
    master = Node.objects.filter(role=Node.Role.MASTER, in_exo_cluster=True).first()
    if master is None:
        raise DomainError("No exo master in the inventory to take a bootstrap command from.",
                          code="no_bootstrap")
    if master.exo_pid is None:
        raise DomainError(f"{master} is not running exo: start the master first.",
                          code="no_bootstrap")
    starts = (Job.objects.filter(kind=START, node=master, state=Job.State.SUCCEEDED)
              .order_by("-finished_at", "-id").values_list("result", flat=True))
    for result in starts[:50]:
        if result and result.get("pid") == master.exo_pid and not result.get("already_running"):
            if command := result.get("bootstrap_command"):
                return str(command)
            break
    raise DomainError(f"{master}'s exo (pid {master.exo_pid}) was not started by the panel, or "
                      "printed no bootstrap command when it was: stop and start the cluster "
                      "from the panel, or set this node's own start command in the admin.",
                      code="no_bootstrap")


def check_startable(node: Node) -> None:
    """DomainError unless exo can be started on this node from the panel."""
    if not node.in_exo_cluster:
        raise DomainError(f"{node} is not part of the exo cluster.", code="not_exo_node")
    if node.exo_start_command:
        return
    if not node.exo_join_with_bootstrap:
        raise DomainError(f"{node} has no exo start command: set one in the admin, or let it "
                          "join with the master's bootstrap command.", code="no_start_command")
    if not node.exo_join_programs:
        raise DomainError(f"{node} joins with the master's bootstrap command but allows no "
                          "program to run it: an admin sets its allowed join programs, or its "
                          "own exo start command, in the admin.", code="no_join_programs")


def start_argv(node: Node) -> list[str]:
    """What to run on `node`: its own start command, else the master's bootstrap command if it
    starts with one of the node's allowed programs."""
    home = exo_process.home()
    if node.exo_start_command:
        return expand_argv(node.exo_start_command, home)
    check_startable(node)
    argv = bootstrap_argv(master_bootstrap(), home)
    if not allowed_join(argv, node.exo_join_programs, home):
        raise DomainError(f"{node} will not run the master's bootstrap command "
                          f"{shlex.join(argv)!r}: it does not start with one of {node}'s allowed "
                          f"join programs. An admin can set {node}'s own exo start command, or "
                          "its allowed join programs, in the admin.",
                          code="bootstrap_not_allowed")
    return argv


def node_job_start(*, kind: str, node: Node, user: Any = None) -> Job:
    """Queue exo.start or exo.stop for `node`, or return the one already queued or running."""
    if kind == START:
        check_startable(node)
    other = STOP if kind == START else START
    busy = Job.objects.filter(kind=other, node=node, state__in=Job.ACTIVE).first()
    if busy is not None:
        raise Conflict(f"{busy.kind} #{busy.pk} is {busy.state} on {node}; wait for it or "
                       "cancel it.", code="node_busy")
    job, _ = job_create(kind=kind, node=node, params={}, user=user, dedupe_key=node.name)
    return job


def _exo_nodes(client: ExoClient) -> list[NodeView]:
    """The nodes exo lists now; none while it does not answer."""
    try:
        return normalise(client.state()).nodes
    except (ExoUnavailable, ExoError):
        return []


def run_start(job: Job, reporter: JobReporter) -> dict[str, Any]:
    node = job.node
    assert node is not None
    current = record_status(node)
    earlier = exo_process.earlier_start(node, (job.result or {}).get(KEPT, {}))
    if earlier is None and current.running:
        message = f"exo is already running on {node} (pid {current.pid})"
        reporter.log(message)
        reporter.progress(2, 2, unit="steps", message=message)
        return {"already_running": True, "pid": current.pid, "version": current.version}
    try:
        return _start(job, node, reporter, earlier)
    finally:
        record_status(node)


class StartOutput:
    """The start command's new output lines (since `offset` when given): into the job's log,
    the last few kept for an error message, and on the master the bootstrap command they
    print."""

    def __init__(self, node: Node, reporter: JobReporter, offset: int | None = None) -> None:
        self.tail = ConsoleTail(node.console_log_path, offset)
        self.reporter = reporter
        self.pattern = node.exo_bootstrap_pattern if node.role == Node.Role.MASTER else ""
        self.bootstrap: str | None = None
        self.recent: deque[str] = deque(maxlen=LAST_LINES)

    def read(self) -> None:
        for line in self.tail.lines():
            self.reporter.log(line)
            self.recent.append(line)
            self.bootstrap = capture_bootstrap(self.pattern, line) or self.bootstrap

    def last(self) -> str:
        return " | ".join(self.recent) or "(none)"


@dataclass
class Launch:
    started: Started
    output: StartOutput
    before: set[str]  # the ids exo had for the node before the command ran
    label: str  # what was started, as errors name it
    message: str  # the progress message while exo comes up


def _launch(job: Job, node: Node, client: ExoClient, reporter: JobReporter) -> Launch:
    """Run the node's start command."""
    argv = start_argv(node)
    env = build_env(os.environ, node.exo_environment, exo_process.home())
    before = {view.node_id for view in views_of(_exo_nodes(client), inventory_node(node))}
    output = StartOutput(node, reporter)
    # Kept before the command runs: a worker that dies from here on leaves a re-run what it
    # needs to find this start's exo (see exo_process.earlier_start).
    kept = {"at": time.time(), "console_offset": output.tail.offset, "before": sorted(before)}
    job_keep(job, **{KEPT: kept})
    reporter.log(f"$ {shlex.join(argv)}")
    started = exo_process.StartCommand(exo_process.start(node, argv, env))
    job_keep(job, **{KEPT: {**kept, "pid": started.pid}})
    reporter.log(f"started as pid {started.pid}; output goes to {node.console_log_path}")
    return Launch(started, output, before, shlex.join(argv),
                  f"Started {os.path.basename(argv[0])} (pid {started.pid})")


def _follow_earlier(job: Job, node: Node, earlier: EarlierStart,
                    reporter: JobReporter) -> Launch:
    """Take on what an earlier attempt of `job` started: its output is read from where that
    attempt's command began (the master's bootstrap line is in it)."""
    kept = (job.result or {}).get(KEPT, {})
    label = f"exo (pid {earlier.pid}), started by this job before its worker died,"
    reporter.log(f"{label} still runs: following it instead of starting exo again")
    return Launch(earlier, StartOutput(node, reporter, kept.get("console_offset")),
                  set(kept.get("before", [])), label, f"Following exo (pid {earlier.pid})")


def _start(job: Job, node: Node, reporter: JobReporter,
           earlier: EarlierStart | None) -> dict[str, Any]:
    """Start exo on `node`, or follow what an earlier attempt of `job` started if it still runs
    (its worker died): exo is never started twice."""
    with ExoClient(retries=0, timeout=min(settings.EXO_TIMEOUT, 2.0)) as client:
        launch = (_launch(job, node, client, reporter) if earlier is None
                  else _follow_earlier(job, node, earlier, reporter))
        reporter.progress(1, 2, unit="steps",
                          message=f"{launch.message}; waiting for {node} in exo's topology")
        try:
            _wait_until_ready(node, launch, client, reporter)
        except BaseException:
            # Cancelled, or the panel gave up: leave nothing half-started.
            launch.started.kill()
            raise
        launch.output.read()
    launch.started.release()
    current = exo_process.status(node)
    pid = current.pid or launch.started.pid
    reporter.progress(2, 2, message=f"exo is running on {node} (pid {pid})")
    bootstrap = launch.output.bootstrap
    return {"already_running": False, "pid": pid, "version": current.version,
            **({"bootstrap_command": bootstrap} if bootstrap else {})}


def _wait_until_ready(node: Node, launch: Launch, client: ExoClient,
                      reporter: JobReporter) -> None:
    """Until exo lists the node under a new id while what was started (or the exo it launched)
    lives; raises when that ends first or the start timeout passes."""
    timeout = node.exo_start_timeout
    deadline = time.monotonic() + timeout
    output = launch.output
    while True:
        output.read()
        if (failure := launch.started.failure(node)) is not None:
            raise RuntimeError(f"{launch.label} {failure} before {node} joined exo. "
                               f"Last output: {output.last()}")
        if fresh_view(_exo_nodes(client), inventory_node(node), launch.before) is not None:
            return
        if time.monotonic() >= deadline:
            launch.started.kill()
            output.read()
            raise TimeoutError(f"killed after {timeout} s: {launch.label} did not bring {node} "
                               f"into exo's topology at {client.base_url}. "
                               f"Last output: {output.last()}")
        reporter.tick()
        time.sleep(READY_POLL)


def run_stop(job: Job, reporter: JobReporter) -> dict[str, Any]:
    node = job.node
    assert node is not None
    reporter.progress(0, 1, unit="steps", message=f"Stopping exo on {node}")
    try:
        was_running = exo_process.stop(node, node.exo_stop_grace, reporter.log)
    finally:
        record_status(node)
    reporter.progress(1, 1, message=f"exo stopped on {node}" if was_running
                      else f"exo was not running on {node}")
    return {"was_running": was_running}


START_KIND = JobKind(name=START, label="Start exo", run=run_start, lane=Lane.CONTROL,
                     permission=OPERATE_EXO)
STOP_KIND = JobKind(name=STOP, label="Stop exo", run=run_stop, lane=Lane.CONTROL,
                    permission=OPERATE_EXO)
