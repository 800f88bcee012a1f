"""`/ws/cluster/` in-process: the latest poll with each node's memory history first (nothing
before the first poll), then every new poll as it comes."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone

from cluster_app.jobs import events
from cluster_app.models import Node, NodeMemorySample
from cluster_app.nodes.poll import keep_snapshot
from tests.cluster_app.consumer_testing import snapshot_of
from tests.threads import run_async

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


def test_before_the_first_poll_the_snapshot_says_so(layer, nodes, alice_token):
    async def scenario() -> None:
        communicator, first = await snapshot_of("/ws/cluster/", alice_token)
        assert first == {"type": "cluster", "cluster": None}
        await communicator.disconnect()

    run_async(scenario())


def test_the_snapshot_carries_the_memory_history_and_polls_follow(layer, alice_token):
    # A node exo does not know: the live stack's poll, which shares this database, never
    # writes samples for it.
    delta = Node.objects.create(name="delta", display_name="DELTA", ram_bytes=64 * 1024**3)
    keep_snapshot({"reachable": True, "nodes": [{"name": "delta"}], "links": []})
    NodeMemorySample.objects.create(node=delta, tier="10s", bucket=timezone.now(),
                                    ram_used=30 * 1024**3, ram_total=64 * 1024**3)

    async def scenario() -> None:
        communicator, first = await snapshot_of("/ws/cluster/", alice_token)
        cluster = first["cluster"]
        assert cluster["reachable"] is True
        (node,) = cluster["nodes"]
        assert [s["ram_used"] for s in node["history"]] == [30 * 1024**3]
        await layer.group_send(events.CLUSTER_GROUP, {"type": "cluster.update",
                                                      "cluster": {"reachable": False}})
        assert await communicator.receive_json_from(timeout=5) == {
            "type": "cluster", "cluster": {"reachable": False}}
        await communicator.disconnect()

    run_async(scenario())


def test_a_nodes_network_reading_is_relayed_live(layer, nodes, alice_token):
    network = {"at": "2026-06-22T15:38:54+00:00", "missing": [],
               "interfaces": {"lo": {"rx": 1200, "tx": 1200}}}

    async def scenario() -> None:
        communicator, _ = await snapshot_of("/ws/cluster/", alice_token)
        await layer.group_send(events.CLUSTER_GROUP, {"type": "node.network", "node": "alpha",
                                                      "network": network})
        assert await communicator.receive_json_from(timeout=5) == {
            "type": "network", "node": "alpha", "network": network}
        await communicator.disconnect()

    run_async(scenario())
