"""Network throughput through the real stack: ALPHA's worker watching loopback, where the exo
simulator and the panel run, reports the bytes of a chat stream (client -> panel -> exo) live
over /ws/cluster/ while it flows, and its history keeps the peak."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from cluster_app.models import Node
from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
BASELINE_READINGS = 3


class Stream(threading.Thread):
    """A chat stream read to its end (or until stopped), counting the bytes it received."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base_url, self.token = base_url, token
        self.received = 0
        self.status = 0
        self.started_at = 0.0
        self.stop = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream("POST", f"{self.base_url}/v1/chat/completions", timeout=60,
                              headers={"Authorization": f"Bearer {self.token}"},
                              json={"model": "llama-3.2-1b", "stream": True,
                                    "messages": [{"role": "user", "content": "Tell a story"}]}
                              ) as response:
                self.status = response.status_code
                self.started_at = time.monotonic()
                for chunk in response.iter_raw():
                    self.received += len(chunk)
                    if self.stop.is_set():
                        break  # closing the connection cancels the answer in exo
        finally:
            self.done.set()

    def rate(self) -> float:
        """Bytes per second received so far: what the panel alone sent over loopback to us."""
        elapsed = time.monotonic() - self.started_at if self.started_at else 0.0
        return self.received / elapsed if elapsed > 0 else 0.0


@pytest.fixture
def long_answers(exo_url: str) -> Iterator[None]:
    """Answers of many tokens, so a stream lasts for several network readings."""
    httpx.post(f"{exo_url}/_sim/settings", json={"answer_tokens": 300000}).raise_for_status()
    yield
    httpx.post(f"{exo_url}/_sim/settings", json={"answer_tokens": 0}).raise_for_status()


def alpha_readings(ws: ClientConnection) -> Iterator[dict[str, Any]]:
    """ALPHA's network readings as the socket brings them."""
    while True:
        message = json.loads(ws.recv(timeout=30))
        if message["type"] == "network" and message["node"] == "alpha":
            yield message["network"]


def test_a_chat_stream_shows_as_loopback_throughput_rising(live_stack, alice_token,
                                                           loaded_llama, long_answers):
    Node.objects.filter(name="alpha").update(network_interfaces=["lo"])
    headers = {"Authorization": f"Bearer {alice_token}"}
    with connect(f"{live_stack.ws_url}/ws/cluster/", additional_headers=headers) as ws:
        # A reading begun before the setting changed may still show the other interfaces.
        readings = (r for r in alpha_readings(ws) if set(r["interfaces"]) == {"lo"})
        # The stack's own chatter on loopback (Redis, the database, polls), with no stream.
        quiet = [next(readings) for _ in range(BASELINE_READINGS)]
        baseline = max(r["interfaces"]["lo"]["rx"] for r in quiet)

        stream = Stream(live_stack.base_url, alice_token)
        stream.start()
        try:
            wait_until(lambda: stream.received > 0 or stream.done.is_set(), timeout=30)
            during = None
            for reading in readings:
                assert not stream.done.is_set(), (
                    f"the stream ended (HTTP {stream.status}, {stream.received} bytes) before a "
                    f"reading showed it")
                # The panel's bytes to this client cross loopback once, exo's to the panel once
                # more: a reading while they flow is above the quiet ones by at least that.
                if reading["interfaces"]["lo"]["rx"] >= baseline + stream.rate():
                    during = reading
                    break
        finally:
            stream.stop.set()
            stream.join(timeout=30)
    assert during is not None and stream.received > 0

    # The history keeps the peak: the chart of the last hour shows the stream.
    with api(live_stack, alice_token) as client:
        series = client.get("/api/v1/nodes/alpha/history/?tier=10s").json()["series"]
    assert max(point["value"] for point in series["net.lo.rx"]) >= during["interfaces"]["lo"]["rx"]
