"""Network throughput through the real stack: ALPHA's worker watching loopback, where the exo
simulator and the panel run, reports the bytes of a chat stream (client -> panel -> exo) live
over /ws/cluster/ while it flows, and its history keeps the peak."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from cluster_app.models import Node
from tests.chat_stream import ChatStream, long_answers
from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
BASELINE_READINGS = 3


def alpha_readings(ws: ClientConnection) -> Iterator[dict[str, Any]]:
    """ALPHA's network readings as the socket brings them."""
    while True:
        message = json.loads(ws.recv(timeout=30))
        if message["type"] == "network" and message["node"] == "alpha":
            yield message["network"]


@pytest.fixture
def long_stream_answers(exo_url: str) -> Iterator[None]:
    with long_answers(exo_url):
        yield


def test_a_chat_stream_shows_as_loopback_throughput_rising(live_stack, alice_token,
                                                           loaded_llama, long_stream_answers):
    Node.objects.filter(name="alpha").update(network_interfaces=["lo"])
    headers = {"Authorization": f"Bearer {alice_token}"}
    with connect(f"{live_stack.ws_url}/ws/cluster/", additional_headers=headers) as ws:
        # A reading begun before the setting changed may still show the other interfaces.
        readings = (r for r in alpha_readings(ws) if set(r["interfaces"]) == {"lo"})
        # The stack's own chatter on loopback (Redis, the database, polls), with no stream.
        quiet = [next(readings) for _ in range(BASELINE_READINGS)]
        # The median: one burst of the stack's own (a poll, the other test pass) is no baseline.
        baseline = statistics.median(r["interfaces"]["lo"]["rx"] for r in quiet)

        stream = ChatStream(live_stack.base_url, alice_token)
        stream.start()
        try:
            wait_until(lambda: stream.received > 0 or stream.done.is_set(), timeout=30)
            during = None
            for reading in readings:
                assert not stream.done.is_set(), stream.ended_early()
                # The panel's bytes to this client cross loopback once, exo's to the panel once
                # more: a reading while they flow is above the quiet ones by at least that.
                if reading["interfaces"]["lo"]["rx"] >= baseline + stream.rate():
                    during = reading
                    break
        finally:
            stream.end()
    assert during is not None and stream.received > 0

    # The history keeps the peak: the chart of the last hour shows the stream.
    with api(live_stack, alice_token) as client:
        series = client.get("/api/v1/nodes/alpha/history/?tier=10s").json()["series"]
    assert max(point["value"] for point in series["net.lo.rx"]) >= during["interfaces"]["lo"]["rx"]
