"""The GPU poll of a node exo does not report (GAMMA): beat asks the node's worker, on its own
control queue, every CLUSTER_POLL_SECONDS; the worker runs the NVML probe as a process of its
own and writes the node's live figures, status and memory history. The cluster poll marks the
node offline when its readings stop."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from arthur_panel.celery import app as celery_app
from cluster_app.models import Node
from cluster_app.nodes.gpus import GpuFigures, gpu_figures, gpu_status
from cluster_app.nodes.perf_history import record_series
from cluster_app.nodes.poll import record_memory
from cluster_app.nodes.series import live_series

# Sent by name: the tasks module imports this one, not the other way round.
READ_TASK = "cluster_app.tasks.gpu_read_task"
# NVML answers in milliseconds; a driver that does not answer in this long is reported as such.
PROBE_TIMEOUT = 10.0
DEFAULT_PROBE = ["-m", "cluster_app.nodes.nvml", "--json"]


def probe_command(node: Node) -> list[str]:
    """The node's own probe command (a leading `~/` expanded), or the panel's probe run by this
    worker's Python."""
    if node.gpu_probe_command:
        return [str(Path(arg).expanduser()) if str(arg).startswith("~/") else str(arg)
                for arg in node.gpu_probe_command]
    return [sys.executable, *DEFAULT_PROBE]


def run_probe(command: list[str], *, timeout: float = PROBE_TIMEOUT) -> dict[str, Any]:
    """The probe's reading; a probe that fails, hangs or prints no reading is a reading that
    says so."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL,
                              cwd=settings.BASE_DIR)
    except subprocess.TimeoutExpired:
        return {"available": False, "reason": f"the GPU probe did not answer within {timeout:g} s"}
    except OSError as exc:
        return {"available": False, "reason": f"the GPU probe could not run: {exc}"}
    last = (done.stdout.strip().splitlines() or [""])[-1]
    try:
        reading = json.loads(last)
    except ValueError:
        said = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"available": False, "reason": f"the GPU probe failed: {said}"}
    if not isinstance(reading, dict) or "available" not in reading:
        return {"available": False, "reason": f"the GPU probe printed no reading: {last[:200]}"}
    return reading


def gpu_record(node: Node, reading: dict[str, Any], *, now: datetime | None = None
               ) -> GpuFigures:
    """Write one reading to the node's row, memory and performance history; returns its
    figures."""
    now = now or timezone.now()
    figures = gpu_figures(reading)
    status = gpu_status(figures)
    Node.objects.filter(pk=node.pk).update(
        status=status.status, status_reason=status.reason[:255], last_seen_at=now,
        ram_total=figures.ram_total, ram_used=figures.ram_used, gpu_usage=figures.gpu_usage,
        temperature=figures.temperature, power=figures.power, gpu_reading=reading)
    if figures.ram_total and figures.ram_used is not None:
        record_memory([(node, figures.ram_used, figures.ram_total)], now)
    record_series([(node, live_series(gpu_usage=figures.gpu_usage, temperature=figures.temperature,
                                      power=figures.power, swap_used=None))], now)
    return figures


def gpu_read(*, node_name: str) -> None:
    """The periodic reading, on the node's own worker."""
    node = Node.objects.defer("links").filter(name=node_name).first()
    if node is not None and node.reads_gpus:
        gpu_record(node, run_probe(probe_command(node)))


def gpu_fanout() -> None:
    """Ask the worker of each node that reads its GPUs for a reading."""
    for node in Node.objects.filter(monitor_gpus=True, in_exo_cluster=False).only("name"):
        # A node whose worker is down must not collect a backlog of readings.
        celery_app.send_task(READ_TASK, args=[node.name], queue=node.control_queue,
                             expires=settings.CLUSTER_POLL_SECONDS)
