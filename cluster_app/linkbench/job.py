"""The `linkbench.run` job: mlx.launch runs the all_sum probe on every rank; the job streams its
output into the log, stores a LinkBenchmark and sums it up against the guide's figures.

It runs on the master node's queue: rank 0 is the master, the other ranks are reached from it.
"""

from __future__ import annotations

import json
import shlex
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from rest_framework import serializers

from cluster_app.exo.cluster_jobs import exo_nodes
from cluster_app.exo.commands import CommandTimeout, run_streamed
from cluster_app.jobs import services
from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter
from cluster_app.linkbench import core as linkbench
from cluster_app.linkbench.core import LinkbenchError, Plan, RankNode
from cluster_app.models import Job, LinkBenchmark, Node

KIND = "linkbench.run"
# Only one benchmark at a time: two would share the link and halve each other's numbers.
DEDUPE_KEY = "linkbench"
# mlx.launch may take this long, ssh to the other nodes included, before it is stopped.
LAUNCH_TIMEOUT = 120.0


class LinkbenchParams(serializers.Serializer):
    backend = serializers.ChoiceField(linkbench.BACKENDS, default="auto",
                                      help_text="auto: jaccl where every node has RDMA, else ring")
    quick = serializers.BooleanField(default=False, help_text="message sizes up to 1 MiB only")

    class Meta:
        ref_name = "LinkbenchParams"


def rank_nodes() -> list[RankNode]:
    return [RankNode(node.name, node.hostname, node.rdma_interface, node.expects_rdma)
            for node in exo_nodes()]


def master_node() -> Node:
    master = Node.objects.filter(role=Node.Role.MASTER).first()
    if master is None:
        raise LinkbenchError("No node has the master role: the benchmark runs on the master's "
                             "worker. Set one in the admin.", code="no_master")
    return master


def linkbench_plan(backend: str) -> Plan:
    """The plan for `backend` with this process's settings; LinkbenchError if impossible."""
    return linkbench.plan_run(backend, nodes=rank_nodes(), worker_nodes=settings.WORKER_NODES)


def linkbench_start(*, backend: str, quick: bool, user: Any = None) -> tuple[Job, bool]:
    """Queue a benchmark on the master's queue, or return the one already running."""
    linkbench_plan(backend)  # refuse now what the worker would refuse
    return services.job_create(kind=KIND, node=master_node(), params={"backend": backend,
                           "quick": quick}, user=user, dedupe_key=DEDUPE_KEY)


def free_port_pair() -> int:
    """A loopback port whose next port is free too: local ring ranks listen on both."""
    while True:
        with socket.socket() as first:
            first.bind((linkbench.LOCAL_HOST, 0))
            port = int(first.getsockname()[1])
            with socket.socket() as second:
                try:
                    second.bind((linkbench.LOCAL_HOST, port + 1))
                except OSError:
                    continue
                return port


def resolve_ips(plan: Plan) -> dict[str, str]:
    """Each node's IPv4 address from its host name (mlx.launch connects ranks by address)."""
    ips = {}
    for node in plan.nodes:
        try:
            ips[node.name] = socket.gethostbyname(node.host)
        except OSError as error:
            raise LinkbenchError(f"cannot resolve {node.name}'s host name "
                                 f"'{node.host}': {error}") from None
    return ips


class ProbeOutput:
    """Follows the launch's output: probe messages become progress, the rest goes to the log."""

    def __init__(self, reporter: JobReporter) -> None:
        self.reporter = reporter
        self.result: dict[str, Any] | None = None

    def __call__(self, line: str) -> None:
        message = linkbench.parse_line(line)
        if message is None:
            if line.strip():
                self.reporter.log(line)
        elif message["linkprobe"] == "point":
            text = linkbench.describe_point(message)
            self.reporter.log(text)
            self.reporter.progress(int(message["index"]) + 1, int(message["count"]), message=text)
        else:
            self.result = message


def run_linkbench(job: Job, reporter: JobReporter) -> dict[str, Any]:
    params = LinkbenchParams(data=job.params)
    params.is_valid(raise_exception=True)
    plan = linkbench_plan(params.validated_data["backend"])
    reporter.log(f"plan: {plan.reason}")
    reporter.progress(0, None, unit="sizes", message=f"Starting {plan.ranks} ranks over "
                                                       f"{plan.backend}")
    output = ProbeOutput(reporter)
    with tempfile.TemporaryDirectory(prefix="linkbench-") as work:
        hostfile_path = None
        if not plan.local:
            hostfile_path = str(Path(work) / "hostfile.json")
            Path(hostfile_path).write_text(json.dumps(linkbench.hostfile(plan, resolve_ips(plan))))
        argv = linkbench.launch_args(plan, python=sys.executable, cwd=str(settings.BASE_DIR),
                                     port=free_port_pair(), hostfile_path=hostfile_path,
                                     quick=params.validated_data["quick"])
        reporter.log("$ " + shlex.join(argv))
        try:
            status = run_streamed(argv, timeout=LAUNCH_TIMEOUT, on_line=output,
                                  check=reporter.check, cwd=str(settings.BASE_DIR))
        except CommandTimeout as timeout:
            raise LinkbenchError(f"mlx.launch {timeout}; its ranks were killed.",
                                 code="timeout") from None
    if status != 0:
        raise LinkbenchError(f"mlx.launch exited with status {status}; the log shows its output.")
    if output.result is None:
        raise LinkbenchError("mlx.launch finished but the probe printed no result.")
    return _store(job, plan, output.result)


def _store(job: Job, plan: Plan, result: dict[str, Any]) -> dict[str, Any]:
    points = linkbench.clean_points(result.get("points") or [])
    summary = linkbench.summarise(points)
    benchmark = LinkBenchmark.objects.create(
        backend=plan.backend, hosts=[str(host) for host in result.get("hosts") or []],
        ranks=int(result.get("ranks") or plan.ranks), points=points, job=job, **summary)
    comparison = linkbench.compare(plan.backend, **summary)
    job.message = (f"{summary['latency_us']:,.1f} µs, {summary['bandwidth_gbps']:.3g} Gb/s over "
                   f"{plan.backend}")
    return {"benchmark": benchmark.pk, "backend": plan.backend, "ranks": benchmark.ranks,
            "hosts": benchmark.hosts, **summary, "comparison": comparison}


LINKBENCH = JobKind(name=KIND, label="Link benchmark", run=run_linkbench, max_active_per_user=1)
