"""Pure rules of a node that reads its own GPUs: the recorded H200's reading as the node's
figures and status, the guide's memory limit, GPUs sharing the host's memory, no GPU, and a
worker gone quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cluster_app.nodes import nvml
from cluster_app.nodes.gpus import GPU, HOST, GpuFigures, gpu_figures, gpu_status, silent_status
from cluster_app.nodes.live import NodeStatus
from tests.nvml_fake import FakeNvml

MIB = 1024**2
NOW = datetime(2026, 12, 4, 16, 55, 20, tzinfo=UTC)
QUEUE = "node.gamma.control"


@pytest.fixture
def h200() -> dict:
    return nvml.read(FakeNvml.recorded())


def test_the_recorded_h200_is_an_online_node_with_its_figures(h200):
    figures = gpu_figures(h200)
    assert figures == GpuFigures(available=True, reason="", ram_total=143771 * MIB, ram_used=0,
                                 memory_source=GPU, gpu_usage=0.0, temperature=35.0,
                                 power=95.93, power_limit=700.0)
    assert gpu_status(figures) == NodeStatus("online", "")


def test_two_gpus_add_memory_and_power_average_their_use_and_show_the_hottest(h200):
    first = h200["gpus"][0]
    second = {**first, "index": 1, "memory_used": 1024 * MIB, "utilization": 50,
              "temperature": 41, "power_draw": 300.0}
    figures = gpu_figures({**h200, "gpus": [first, second]})
    assert (figures.ram_total, figures.ram_used) == (2 * 143771 * MIB, 1024 * MIB)
    assert (figures.gpu_usage, figures.temperature, figures.power) == (0.25, 41.0, 395.93)
    assert figures.power_limit == 1400.0


@pytest.mark.parametrize(("fraction", "expected"), [
    (0.80, NodeStatus("online", "")),  # past the 70% safe zone: the bar says so, not the status
    (0.95, NodeStatus("degraded", "GPU memory at 95%, over the 92% limit")),
])
def test_the_guides_memory_limit_applies_to_gpu_memory(h200, fraction, expected):
    (card,) = h200["gpus"]
    filled = {**h200, "gpus": [{**card, "memory_used": int(card["memory_total"] * fraction)}]}
    assert gpu_status(gpu_figures(filled)) == expected


def test_a_gpu_sharing_the_hosts_memory_shows_the_hosts():
    """A DGX GB10: NVML reports no memory of its own GPU, /proc/meminfo has the whole."""
    reading = nvml.read(FakeNvml.recorded(unsupported={"nvmlDeviceGetMemoryInfo"}))
    host = reading["host_memory"]
    figures = gpu_figures(reading)
    assert (figures.ram_total, figures.ram_used, figures.memory_source) == (
        host["total"], host["total"] - host["available"], HOST)
    full = {**reading, "host_memory": {"total": 128 * 1024 * MIB, "available": 4 * 1024 * MIB}}
    assert gpu_status(gpu_figures(full)) == NodeStatus(
        "degraded", "memory at 97%, over the 92% limit")
    bare = {**reading, "host_memory": None}
    assert (gpu_figures(bare).ram_total, gpu_figures(bare).memory_source) == (None, "")
    assert gpu_status(gpu_figures(bare)) == NodeStatus("online", "")


def test_no_gpu_reading_is_a_degraded_node_that_says_why():
    figures = gpu_figures({"available": False,
                           "reason": "NVML did not start: NVML Shared Library Not Found"})
    assert (figures.available, figures.ram_total, figures.gpu_usage) == (False, None, None)
    assert gpu_status(figures) == NodeStatus(
        "degraded", "GPU not available: NVML did not start: NVML Shared Library Not Found")


def test_a_worker_gone_quiet_makes_the_node_offline():
    after = timedelta(seconds=30)
    assert silent_status(last_seen=None, now=NOW, offline_after=after, queue=QUEUE) == NodeStatus(
        "offline", "no GPU reading yet from its worker on node.gamma.control")
    assert silent_status(last_seen=NOW - timedelta(seconds=29), now=NOW, offline_after=after,
                         queue=QUEUE) is None
    assert silent_status(last_seen=NOW - timedelta(seconds=45), now=NOW, offline_after=after,
                         queue=QUEUE) == NodeStatus(
        "offline", "no GPU reading from its worker on node.gamma.control for 45 s")
