"""The GPU poll in-process: GAMMA's worker running the probe (over the recorded H200, and the
real one on this machine, which has no NVIDIA driver), what it writes, a probe that fails, beat's
fan-out to GAMMA's control queue, and the cluster poll leaving GAMMA to its worker."""

from __future__ import annotations

import sys
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from arthur_panel.celery import app as celery_app
from cluster_app.exo.client import ExoClient
from cluster_app.models import Node, NodeMemorySample
from cluster_app.nodes import gpu_poll, poll

pytestmark = pytest.mark.django_db
MIB = 1024**2
FAKE_H200 = [sys.executable, "-m", "tests.nvml_fake"]


def gamma() -> Node:
    return Node.objects.get(name="gamma")


def test_gammas_worker_writes_the_recorded_h200(nodes, api_client):
    Node.objects.filter(name="gamma").update(gpu_probe_command=FAKE_H200)
    gpu_poll.gpu_read(node_name="gamma")
    node = gamma()
    assert (node.status, node.status_reason) == ("online", "")
    assert (node.ram_total, node.ram_used) == (143771 * MIB, 0)
    assert (node.gpu_usage, node.temperature, node.power) == (0.0, 35.0, 95.93)
    assert node.last_seen_at is not None
    assert node.gpu_reading["gpus"][0]["name"] == "NVIDIA H200"
    samples = NodeMemorySample.objects.filter(node=node)
    assert {(s.tier, s.ram_used, s.ram_total) for s in samples} == {
        ("10s", 0, 143771 * MIB), ("5m", 0, 143771 * MIB)}
    listed = api_client.get("/api/v1/nodes/gamma/").json()
    assert (listed["status"], listed["monitor_gpus"], listed["ram_total"]) == (
        "online", True, 143771 * MIB)
    assert listed["gpu"] == {"available": True, "reason": "", "memory_source": "gpu",
                             "power_limit": 700.0, "driver_version": "580.159.04",
                             "gpus": node.gpu_reading["gpus"], "read": True}
    assert api_client.get("/api/v1/nodes/alpha/").json()["gpu"] is None


def test_without_a_driver_the_node_says_the_gpu_is_not_available(nodes):
    """This machine has no NVIDIA driver: the real probe, as GAMMA's worker runs it, says so."""
    gpu_poll.gpu_read(node_name="gamma")
    node = gamma()
    assert node.status == "degraded"
    assert node.status_reason == ("GPU not available: NVML did not start: "
                                  "NVML Shared Library Not Found")
    assert (node.ram_total, node.gpu_usage) == (None, None)
    assert node.gpu_reading == {"available": False,
                                "reason": "NVML did not start: NVML Shared Library Not Found"}
    assert not NodeMemorySample.objects.filter(node=node).exists()


@pytest.mark.parametrize(("command", "reason"), [
    ([sys.executable, "-c", "import sys; sys.exit('no NVML here')"],
     "the GPU probe failed: no NVML here"),
    ([sys.executable, "-c", "print('[1, 2]')"], "the GPU probe printed no reading: [1, 2]"),
    ([sys.executable, "-c", "import time; time.sleep(30)"],
     "the GPU probe did not answer within 0.5 s"),
    (["/nonexistent/probe"], "the GPU probe could not run: [Errno 2] No such file or directory: "
                             "'/nonexistent/probe'"),
])
def test_a_probe_that_fails_is_a_reading_that_says_so(command, reason):
    assert gpu_poll.run_probe(command, timeout=0.5) == {"available": False, "reason": reason}


def test_the_probe_command_defaults_to_the_workers_python(nodes, monkeypatch):
    node = gamma()
    assert gpu_poll.probe_command(node) == [sys.executable, "-m", "cluster_app.nodes.nvml",
                                            "--json"]
    monkeypatch.setenv("HOME", "/home/arthur")
    node.gpu_probe_command = ["~/venv/bin/python", "-m", "cluster_app.nodes.nvml", "--json"]
    assert gpu_poll.probe_command(node)[0] == "/home/arthur/venv/bin/python"


def test_a_node_exo_reports_is_not_read_here(nodes):
    Node.objects.filter(name="alpha").update(monitor_gpus=True, gpu_probe_command=FAKE_H200)
    gpu_poll.gpu_read(node_name="alpha")
    assert Node.objects.get(name="alpha").gpu_reading == {}
    with pytest.raises(ValidationError, match="only a node outside the exo cluster"):
        Node.objects.get(name="alpha").clean()


def test_beat_asks_gammas_worker_on_its_control_queue(nodes, settings):
    with mock.patch.object(celery_app, "send_task", autospec=True) as send:
        gpu_poll.gpu_fanout()
    send.assert_called_once_with(gpu_poll.READ_TASK, args=["gamma"], queue="node.gamma.control",
                                 expires=settings.CLUSTER_POLL_SECONDS)


def test_the_cluster_poll_leaves_gamma_to_its_worker_until_it_goes_quiet(exo_url, nodes,
                                                                          settings):
    Node.objects.filter(name="gamma").update(gpu_probe_command=FAKE_H200)
    gpu_poll.gpu_read(node_name="gamma")
    with ExoClient(exo_url, retries=0) as client:
        snapshot = poll.cluster_poll(client=client)
    node = gamma()
    assert (node.status, node.ram_total, node.temperature) == ("online", 143771 * MIB, 35.0)
    shown = next(n for n in snapshot["nodes"] if n["name"] == "gamma")
    assert (shown["status"], shown["gpu"]["gpus"][0]["name"]) == ("online", "NVIDIA H200")
    assert snapshot["totals"]["total"] == 768 * 1024**3  # GAMMA's GPU is not exo's memory

    later = timezone.now() + timedelta(seconds=settings.NODE_OFFLINE_SECONDS + 5)
    with ExoClient(exo_url, retries=0) as client:
        poll.cluster_poll(client=client, now=later)
    node = gamma()
    assert node.status == "offline"
    assert node.status_reason.startswith("no GPU reading from its worker on node.gamma.control "
                                         "for ")
    assert node.temperature == 35.0  # the last figures stay, marked by the status


def test_each_node_has_a_page(client, alice, nodes):
    client.force_login(alice)
    page = client.get("/nodes/gamma/").content.decode()
    assert 'data-node="gamma"' in page and 'id="gpu-table"' in page
    assert "its worker's NVML readings of its GPUs" in page
    alpha = client.get("/nodes/alpha/").content.decode()
    assert "exo's state, every poll" in alpha and 'id="gpu-table"' not in alpha
    assert client.get("/nodes/omega/").status_code == 404
    client.logout()
    assert client.get("/nodes/gamma/").status_code == 302  # to the login page
