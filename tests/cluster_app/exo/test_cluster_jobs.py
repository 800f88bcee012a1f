"""The node and cluster exo jobs run directly, in this process: the exo simulator's node agents
play ALPHA and BETA on a simulator of this module's own (nodes down at first), and a thread per
sent task stands in for the workers (no Celery). The live suite runs the same through real
workers; this pins the jobs' own logic: order, relayed logs, the bootstrap join, cancellation."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from django.utils import timezone

from arthur_panel.celery import app as celery_app
from cluster_app.exo import cluster_jobs, node_jobs
from cluster_app.exo import process as exo_process
from cluster_app.exo.demo import configure_demo_nodes
from cluster_app.jobs import services
from cluster_app.jobs.reporter import JobReporter
from cluster_app.models import Job, Node
from tests import stack as live
from tests.stack import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: Any) -> Iterator[tuple[str, Path]]:
    work = tmp_path_factory.mktemp("cluster-jobs")
    with live.running_simulator("exo", work / "sim", "--stopped") as url:
        yield url, work
    for pid_file in (work / "var" / "exo").glob("*.pid"):  # agents a failed test left
        with suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.fixture
def exo_nodes(nodes: dict[str, Node], sim: tuple[str, Path], settings: Any) -> dict[str, Node]:
    url, work = sim
    settings.EXO_API_URL = url
    settings.VAR_DIR = work / "var"
    configure_demo_nodes(exo_url=url, var_dir=work / "var", sim_log_dir=work / "sim")
    Node.objects.filter(in_exo_cluster=True).update(exo_start_timeout=20, exo_stop_grace=5)
    return {node.name: node for node in Node.objects.all()}


@pytest.fixture
def workers() -> Iterator[list[threading.Thread]]:
    """Each task sent runs its job at once on a thread of its own, as a free worker would."""
    threads: list[threading.Thread] = []

    def send_task(name: str, args: list[Any], queue: str, **options: Any) -> Any:
        assert name == services.RUN_TASK
        thread = threading.Thread(target=services.job_execute, kwargs={"job_id": args[0]})
        thread.start()
        threads.append(thread)
        return mock.Mock(id=f"thread-{args[0]}")

    with mock.patch.object(celery_app, "send_task", side_effect=send_task):
        yield threads
    for thread in threads:
        thread.join(timeout=30)


def exo_names(url: str) -> set[str]:
    state = httpx.get(f"{url}/state", timeout=5).json()
    return {identity["friendlyName"] for identity in state["nodeIdentities"].values()}


def run(kind: str, **fields: Any) -> Job:
    """A cluster job run here, from claim to its final state."""
    job, _ = services.job_create(kind=kind, node=None, params={}, enqueue=False, **fields)
    services.job_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_start_then_stop_the_cluster(exo_nodes, sim, workers):
    url, _ = sim
    started = run("cluster.start")
    assert started.state == Job.State.SUCCEEDED, (started.error, started.log_tail)
    assert exo_names(url) == {"ALPHA", "BETA"}
    log = "\n".join(started.log_tail)
    # The master first; BETA joins with the command ALPHA printed, relayed with node prefixes.
    assert log.index("ALPHA: exo.start job") < log.index("BETA: exo.start job")
    assert "[ALPHA] " in log and "[BETA] $ " in log and "--join" in log
    assert set(started.result["nodes"]) == {"alpha", "beta"}
    assert started.message.startswith("Cluster up: ALPHA, BETA")

    stopped = run("cluster.stop")
    assert stopped.state == Job.State.SUCCEEDED, (stopped.error, stopped.log_tail)
    stop_log = "\n".join(stopped.log_tail)
    assert stop_log.index("[BETA] sending SIGINT") < stop_log.index("[ALPHA] sending SIGINT")
    wait_until(lambda: not exo_names(url), timeout=10)


def test_a_node_start_fails_with_its_commands_exit_and_last_lines(exo_nodes, workers):
    Node.objects.filter(name="alpha").update(
        exo_start_command=["sh", "-c", "echo 'cannot bind port 52415'; exit 3"])
    job = node_jobs.node_job_start(kind=node_jobs.START, node=Node.objects.get(name="alpha"))
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=20)
    job.refresh_from_db()
    assert (job.state, job.error_code) == (Job.State.FAILED, "command_failed")
    assert "exited with code 3" in job.error and "cannot bind port 52415" in job.error


def test_cancelling_the_cluster_job_cancels_the_node_job_it_waits_for(exo_nodes, workers):
    Node.objects.filter(name="alpha").update(exo_start_command=["sleep", "600"],
                                             exo_start_timeout=60)
    parent, _ = services.job_create(kind="cluster.start", node=None, params={}, enqueue=False)
    runner = threading.Thread(target=services.job_execute, kwargs={"job_id": parent.pk})
    runner.start()
    child = wait_until(lambda: Job.objects.filter(kind=node_jobs.START,
                                                  state=Job.State.RUNNING).first(), timeout=20)
    services.job_cancel(job=Job.objects.get(pk=parent.pk))
    runner.join(timeout=30)
    assert Job.objects.get(pk=parent.pk).state == Job.State.CANCELLED
    assert wait_until(lambda: Job.objects.get(pk=child.pk).is_finished, timeout=20)
    assert Job.objects.get(pk=child.pk).state == Job.State.CANCELLED


def test_a_start_whose_worker_died_follows_the_exo_it_had_started(exo_nodes, sim):
    """The worker died between running ALPHA's command and keeping its pid: the re-run finds
    that exo by its PID lock, taken since the command ran, and reads its bootstrap line."""
    alpha = Node.objects.get(name="alpha")
    job = Job.objects.create(kind=node_jobs.START, node=alpha, state=Job.State.QUEUED)
    console = alpha.console_log_path
    offset = console.stat().st_size if console.exists() else 0
    services.job_keep(job, start={"at": time.time(), "before": [], "console_offset": offset})
    process = exo_process.start(alpha, alpha.exo_start_command, dict(os.environ))
    wait_until(lambda: exo_process.status(alpha).running, timeout=20)

    services.job_execute(job_id=job.pk)  # the re-run, once the lease ran out

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, (job.error, job.log_tail)
    assert job.result["pid"] == process.pid and not job.result["already_running"]
    assert "--join" in job.result["bootstrap_command"]
    assert f"exo (pid {process.pid}), started by this job before its worker died, still runs: " \
           "following it instead of starting exo again" in job.log_tail
    assert exo_process.status(alpha).pid == process.pid  # not started again
    exo_process.stop(alpha, 5, lambda line: None)
    process.wait(timeout=10)


def test_a_cluster_job_stops_waiting_for_a_node_job_whose_worker_died_and_never_came_back(
        exo_nodes, settings):
    settings.JOB_LEASE_SECONDS = 5
    # BETA as a node no worker serves: the live stack, when one runs on this database,
    # re-queues a silent job it finds, and its worker for BETA would run it.
    delta = exo_nodes["beta"]
    delta.pk, delta.name, delta.display_name = None, "delta", "DELTA"
    delta.hostname, delta.exo_start_timeout = "delta.local", 1
    delta._state.adding = True
    delta.save()
    silent = timezone.now() - timedelta(seconds=30)
    child = Job.objects.create(kind=node_jobs.START, node=delta, state=Job.State.RUNNING,
                               dedupe_key="delta", heartbeat_at=silent)
    parent = Job.objects.create(kind="cluster.start", state=Job.State.RUNNING)
    with pytest.raises(TimeoutError, match=f"^DELTA: no worker ran exo.start job #{child.pk} for "
                                           r"1 s \(is a worker consuming node.delta.control\?\)"):
        cluster_jobs.run_node_job(parent, JobReporter(parent), node_jobs.START, delta)
    child.refresh_from_db()
    # Asked to stop, for whichever worker takes it over; cancelled outright if the stack's
    # recovery had put it back in the queue meanwhile.
    assert child.control == Job.Control.CANCEL or child.state == Job.State.CANCELLED


def test_a_stop_with_nothing_running_says_so(exo_nodes):
    node = Node.objects.get(name="beta")
    job = Job.objects.create(kind=node_jobs.STOP, node=node, state=Job.State.RUNNING)
    reporter = JobReporter(job)
    assert node_jobs.run_stop(job, reporter) == {"was_running": False}
    reporter.flush()
    job.refresh_from_db()
    assert job.log_tail == ["exo is not running on BETA"]
    assert job.message == "exo was not running on BETA"
