"""`/ws/logs/` in-process: every node's recent lines and followers first, then the batches."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer

from cluster_app.jobs import events
from cluster_app.logs import ring
from tests.cluster_app.consumer_testing import snapshot_of
from tests.threads import run_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_log_rings")]


@pytest.fixture
def layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


def test_recent_lines_and_followers_first_then_each_batch(layer, nodes, alice_token):
    ring.ring_push("beta", [{"node": "beta", "ts": 2.0, "text": "b", "classes": [],
                             "source": None}], keep=10, positions={})
    ring.ring_push("alpha", [{"node": "alpha", "ts": 1.0, "text": "a", "classes": [],
                              "source": None}], keep=10, positions={})
    ring.follower_beat("alpha", {"pid": 7, "files": []}, ttl=30)

    async def scenario() -> None:
        communicator, first = await snapshot_of("/ws/logs/", alice_token)
        assert first["type"] == "logs.snapshot"
        assert [line["text"] for line in first["lines"]] == ["a", "b"]
        assert first["followers"] == {"alpha": {"pid": 7, "files": []}, "beta": None,
                                      "gamma": None}
        await layer.group_send(events.LOGS_GROUP, {"type": "logs.lines", "skipped": 3,
                                                   "lines": [{"text": "c"}]})
        assert await communicator.receive_json_from(timeout=5) == {
            "type": "logs.lines", "lines": [{"text": "c"}], "skipped": 3}
        await communicator.disconnect()

    run_async(scenario())
