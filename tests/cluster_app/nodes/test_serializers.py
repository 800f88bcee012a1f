"""The node serializer's own representation loop against DRF's, and the snapshot's kept
serializer reading the workers' heartbeats anew each poll."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from arthur_panel.celery import Lane
from arthur_panel.redis_client import redis_client
from cluster_app.jobs import workers
from cluster_app.models import Node
from cluster_app.nodes.serializers import (
    NodeSerializer,
    SnapshotNodeSerializer,
    snapshot_node_payloads,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_beats() -> Iterator[None]:
    redis_client().delete(workers.KEY)
    yield
    redis_client().delete(workers.KEY)


@pytest.fixture
def varied_nodes(nodes: dict[str, Node]) -> list[Node]:
    """The guide's nodes in every state the fields can be in: live and running exo, never seen
    (every live field null), and a GPU node with a reading."""
    now = timezone.now()
    Node.objects.filter(name="alpha").update(
        status=Node.Status.ONLINE, status_reason="", exo_node_id="12D3KooWalpha",
        last_seen_at=now, ram_total=512 * 2**30, ram_used=200 * 2**30, swap_used=0,
        disk_total=8 * 10**12, disk_free=10**12, gpu_usage=0.42, temperature=51.5, power=180.0,
        rdma_enabled=True, links=[{"to": "beta", "kind": "rdma"}], exo_pid=4242,
        exo_started_at=now - timedelta(hours=2), exo_version="1.0.71", exo_checked_at=now,
        network={"en0": {"rx": 1.5, "tx": 2}}, network_interfaces=["en0", "en1"])
    Node.objects.filter(name="gamma").update(
        monitor_gpus=True, last_seen_at=now, gpu_reading={
            "driver_version": "570.86.15", "gpus": [{"index": 0, "name": "GB10", "util": 7}]})
    workers.beat([("alpha", Lane.BULK), ("alpha", Lane.CONTROL)], host="alpha.local", pid=7)
    return list(Node.objects.order_by("name"))


def drf_representation(serializer: serializers.Serializer, node: Node) -> dict:
    """DRF's own loop over the serializer's fields."""
    return serializers.Serializer.to_representation(serializer, node)


def test_a_node_is_represented_as_drf_represents_it(varied_nodes):
    for node in varied_nodes:
        serializer = NodeSerializer(node)
        assert serializer.data == drf_representation(NodeSerializer(node), node)
    alpha = NodeSerializer(varied_nodes[0]).data
    assert alpha["exo_process"]["running"] is True
    assert alpha["exo_process"]["uptime_seconds"] >= 7200
    assert alpha["worker"]["online"] is True
    assert alpha["links"] == [{"to": "beta", "kind": "rdma"}]
    assert alpha["last_seen_at"].endswith("Z") or "+" in alpha["last_seen_at"]
    assert NodeSerializer(varied_nodes[1]).data["ram_used"] is None  # beta: never seen
    assert NodeSerializer(
        next(node for node in varied_nodes if node.name == "gamma")).data["gpu"]["read"] is True


def test_the_snapshot_shows_each_node_as_drf_does_without_links(varied_nodes):
    assert snapshot_node_payloads(varied_nodes) == [
        drf_representation(SnapshotNodeSerializer(node), node) for node in varied_nodes]
    assert all("links" not in payload for payload in snapshot_node_payloads(varied_nodes))


def test_the_snapshot_reads_the_workers_heartbeats_at_each_poll(varied_nodes):
    beta = next(node for node in varied_nodes if node.name == "beta")
    assert snapshot_node_payloads([beta])[0]["worker"]["online"] is False
    workers.beat([("beta", Lane.BULK), ("beta", Lane.CONTROL)], host="beta.local", pid=9)
    assert snapshot_node_payloads([beta])[0]["worker"]["online"] is True
