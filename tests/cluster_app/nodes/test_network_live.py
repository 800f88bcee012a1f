"""Network throughput through the real stack: ALPHA's worker watching loopback, where the exo
simulator and the panel run, reports the bytes of a chat stream (client -> panel -> exo) live
over /ws/cluster/ while it flows, and its history keeps the peak."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from cluster_app.models import Node
from tests.chat_stream import long_answers, loopback_during_a_stream
from tests.stack import api

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


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
        during = loopback_during_a_stream(lambda: next(readings)["interfaces"]["lo"]["rx"],
                                          live_stack.base_url, alice_token)

    # The history keeps the peak: the chart of the last hour shows the stream.
    with api(live_stack, alice_token) as client:
        series = client.get("/api/v1/nodes/alpha/history/?tier=10s").json()["series"]
    assert max(point["value"] for point in series["net.lo.rx"]) >= max(during)
