"""The link benchmark job in-process: running a command with a deadline, a hanging mlx.launch
killed with its ranks, the probe's output read into progress, log and a stored benchmark."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
import pytest

from arthur_panel.launcher import ROOT
from cluster_app.exo.commands import CommandTimeout, run_streamed
from cluster_app.jobs import services
from cluster_app.jobs.reporter import JobReporter
from cluster_app.linkbench import core as linkbench
from cluster_app.linkbench import job as linkbench_job
from cluster_app.linkbench.core import Plan
from cluster_app.models import Job, LinkBenchmark
from tests.stack import wait_until

SLEEPING_RANK = "import os, time; print(os.getpid(), flush=True); time.sleep(600)"


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_output_lines_come_in_order_with_the_exit_status():
    lines: list[str] = []
    code = "import sys; print('one'); print('two', file=sys.stderr, flush=True); sys.exit(3)"
    assert run_streamed([sys.executable, "-c", code], timeout=30, on_line=lines.append) == 3
    assert lines == ["one", "two"]


def test_a_hanging_launch_is_killed_at_its_timeout_with_its_ranks():
    lines: list[str] = []
    argv = [sys.executable, "-m", "cluster_app.linkbench.launch", "--backend", "ring", "-n", "2",
            "--starting-port", str(linkbench_job.free_port_pair()), "--",
            sys.executable, "-c", SLEEPING_RANK]
    with pytest.raises(CommandTimeout, match="did not finish within 2 s and was stopped"):
        run_streamed(argv, timeout=2, on_line=lines.append, cwd=str(ROOT))
    pids = [int(line) for line in lines if line.isdigit()]
    assert len(pids) == 2, lines  # both ranks had started, and were asleep
    assert all(gone(pid) for pid in pids)


# A worker that runs a launch and dies (os._exit: no cleanup) once both ranks have started.
DYING_WORKER = """
import os, sys
from cluster_app.exo.commands import run_streamed
ranks = []
def on_line(line):
    print(line, flush=True)
    ranks.extend([line] if line.isdigit() else [])
    if len(ranks) == 2:
        os._exit(0)
run_streamed(sys.argv[1:], timeout=60, on_line=on_line)
"""


def test_a_launch_whose_worker_dies_ends_with_its_ranks():
    argv = [sys.executable, "-m", "cluster_app.linkbench.launch", "--backend", "ring", "-n", "2",
            "--starting-port", str(linkbench_job.free_port_pair()), "--",
            sys.executable, "-c", SLEEPING_RANK]
    worker = subprocess.run([sys.executable, "-c", DYING_WORKER, *argv], cwd=ROOT, timeout=60,
                            capture_output=True, text=True, check=True)
    pids = [int(line) for line in worker.stdout.split() if line.isdigit()]
    assert len(pids) == 2, worker.stdout  # both ranks had started, and were asleep
    wait_until(lambda: all(gone(pid) for pid in pids), timeout=10)


class Stop(Exception):
    pass


def test_a_check_that_raises_stops_the_command_and_everything_it_started():
    lines: list[str] = []

    def check() -> None:
        if lines:
            raise Stop

    code = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(600)']); print(child.pid, flush=True); time.sleep(600)")
    with pytest.raises(Stop):
        run_streamed([sys.executable, "-c", code], timeout=60, on_line=lines.append, check=check)
    assert gone(int(lines[0]))


@pytest.mark.django_db
def test_a_benchmark_that_overruns_its_timeout_fails_and_says_so(nodes, monkeypatch, settings):
    settings.WORKER_NODES = ["alpha", "beta", "gamma"]  # one machine: two local ranks
    monkeypatch.setattr(linkbench_job, "LAUNCH_TIMEOUT", 2.0)
    launch_args = linkbench.launch_args

    def hanging_ranks(*args, **kwargs):  # the real mlx.launch, with ranks that never answer
        argv = launch_args(*args, **kwargs)
        return [*argv[:argv.index("--") + 1], "-c", "import time; time.sleep(60)"]

    monkeypatch.setattr(linkbench, "launch_args", hanging_ranks)
    job = Job.objects.create(kind=linkbench_job.KIND, node=nodes["alpha"],
                             params={"backend": "auto", "quick": True})
    services.job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.error == ("mlx.launch did not finish within 2 s and was stopped; "
                         "its ranks were killed.")
    assert any("time.sleep(60)" in line for line in job.log_tail)
    assert not LinkBenchmark.objects.exists()


def probe_lines() -> list[str]:
    points = [{"bytes": 4, "seconds": 4e-5, "gbps": 8e-4, "rounds": 8},
              {"bytes": 1024**2, "seconds": 2e-3, "gbps": 4.194, "rounds": 8}]
    return ["[WARN] something mlx.launch said"] + [
        json.dumps({"linkprobe": "point", "index": index, "count": 2, **point})
        for index, point in enumerate(points)
    ] + [json.dumps({"linkprobe": "result", "backend": "ring", "ranks": 2, "hosts": ["vm", "vm"],
                     "points": points})]


@pytest.mark.django_db
def test_probe_output_becomes_progress_log_and_a_stored_benchmark(nodes):
    job = Job.objects.create(kind=linkbench_job.KIND, node=nodes["alpha"], state=Job.State.RUNNING)
    reporter = JobReporter(job)
    output = linkbench_job.ProbeOutput(reporter)
    for line in probe_lines():
        output(line)
    reporter.flush()
    assert (job.done, job.total) == (2, 2)
    assert job.log_tail == ["[WARN] something mlx.launch said", "4 B: 40.0 µs, 0.0008 Gb/s",
                            "1 MiB: 2,000.0 µs, 4.19 Gb/s"]
    assert output.result is not None

    result = linkbench_job._store(job, Plan("ring", (), "local"), output.result)
    stored = LinkBenchmark.objects.get()
    assert (stored.backend, stored.ranks, stored.hosts) == ("ring", 2, ["vm", "vm"])
    assert stored.job == job
    assert stored.latency_us == 40.0 and stored.bandwidth_gbps == 1024**2 * 8 / 2e-3 / 1e9
    assert result["benchmark"] == stored.pk
    assert result["comparison"]["latency"]["verdict"] == "meets"
    assert result["comparison"]["bandwidth"]["verdict"] == "misses"
    assert job.message == "40.0 µs, 4.19 Gb/s over ring"
