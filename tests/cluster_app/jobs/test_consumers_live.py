"""150 logged-in `/ws/logs/` clients that never read and a burst of 80,000 log lines, against
the real uvicorn: the web process stays small, the stuck sockets are closed with 4008, and a
reading client and HTTP carry on."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from cluster_app.jobs import events
from cluster_app.jobs.consumers import CLOSE_TOO_SLOW
from cluster_app.logs.classify import NodeLines
from cluster_app.logs.follow import BATCH_SECONDS, LIVE_BATCH
from cluster_app.models import ApiToken
from tests.threads import off_loop

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

USERS, SOCKETS_PER_USER = 5, 30  # 150 stuck sockets, each user under WS_MAX_SOCKETS_PER_USER
BATCHES = 80  # of LIVE_BATCH (1,000) lines: 80,000 lines
# The report: 161 MB grew to 5.5 GB. Each stuck socket may hold its outbox (512 KiB) and the
# message the server is pushing out (~250 kB here) before it is dropped.
GROWTH_LIMIT = 150 * 1024**2
LINES = [
    ("[ 2026-06-22 15:38:54.101 | INFO     | exo.worker.runner.runner:main:402 ] generated token "
     "{n} at 21.4 tokens/s"),
    ("[ 2026-06-22 15:38:54.102 | INFO     | exo.worker.engines.mlx.utils_mlx:mlx_distributed_"
     "init:131 ] rank 0 MLX_IBV_DEVICES: /tmp/tmpab12/hosts_{n}_0.json with devices: "
     '[[null, "rdma_en3"], ["rdma_en4", null]]'),
    "RuntimeError: [jaccl] Recv failed with errno=60 (line {n})",
]


class StuckClient:
    """A websocket client on a plain socket: it completes the handshake, then reads nothing
    until `close_code()`, so the server's writes pile up as for a frozen browser tab."""

    def __init__(self, ws_url: str, token: str) -> None:
        address = urlsplit(ws_url)
        self.protocol = ClientProtocol(parse_uri(f"{ws_url}/ws/logs/"))
        request = self.protocol.connect()
        request.headers["Authorization"] = f"Bearer {token}"
        self.protocol.send_request(request)
        self.sock = socket.create_connection((address.hostname, address.port), timeout=10)
        self.sock.sendall(b"".join(self.protocol.data_to_send()))
        while self.protocol.state is State.CONNECTING:
            self.protocol.receive_data(self.sock.recv(4096))
        assert self.protocol.state is State.OPEN, self.protocol.handshake_exc

    def close_code(self) -> int | None:
        """Read what the server sent, up to its close frame; that frame's code, or None if
        the connection ended without one."""
        while self.protocol.close_rcvd is None:
            data = self.sock.recv(1 << 20)
            if not data:
                break
            self.protocol.receive_data(data)
            self.protocol.events_received()
        self.sock.close()
        return self.protocol.close_rcvd.code if self.protocol.close_rcvd else None


class Reader(threading.Thread):
    """A client that reads everything, until a line with `marker` comes."""

    def __init__(self, ws: ClientConnection, marker: str) -> None:
        super().__init__(daemon=True)
        self.ws, self.marker = ws, marker
        self.lines = 0
        self.done = threading.Event()
        self.error: Exception | None = None  # why it stopped early

    def run(self) -> None:
        try:
            while not self.done.is_set():
                message = json.loads(self.ws.recv(timeout=60))
                self.lines += len(message["lines"])
                if any(self.marker in line["text"] for line in message["lines"]):
                    self.done.set()
        except (ConnectionClosed, TimeoutError) as error:  # the test reports it
            self.error = error


class PeakRss:
    """How much a process's resident memory grew at most while in the `with` block."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start_rss = self.peak = self.process.memory_info().rss
        self.stopped = threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Self:
        self.sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.sampler.join()

    def _sample(self) -> None:
        while not self.stopped.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start_rss


@pytest.fixture
def tokens(django_user_model: Any) -> list[str]:
    users = [django_user_model.objects.create_user(f"flood{n}", password="flood-password-1")
             for n in range(USERS)]
    return [ApiToken.issue(user=user)[1] for user in users]


def batches(marker: str) -> Iterator[list[dict[str, Any]]]:
    """The follower's live batches: classified lines of node alpha, LIVE_BATCH at a time."""
    describe = NodeLines().describe
    for batch in range(BATCHES):
        records = []
        for n in range(batch * LIVE_BATCH, (batch + 1) * LIVE_BATCH):
            text = LINES[n % len(LINES)].format(n=n)
            if n == BATCHES * LIVE_BATCH - 1:
                text += f" {marker}"
            records.append({"node": "alpha", "file": "/var/log/exo.log", "seq": n + 1,
                            "ts": time.time(), **describe(text)})
        yield records


def publish(marker: str) -> None:
    """As the follower publishes: a batch of the newest lines at most every BATCH_SECONDS."""
    for records in batches(marker):
        events.publish([events.LOGS_GROUP], {"type": "logs.lines", "lines": records,
                                             "skipped": 0}, already_json=True)
        time.sleep(BATCH_SECONDS)


def test_clients_that_do_not_read_cannot_grow_the_web_process(live_stack, stack_layer, tokens,
                                                              alice_token):
    marker = uuid.uuid4().hex
    with PeakRss(live_stack.web_pid) as rss:
        stuck = [StuckClient(live_stack.ws_url, token)
                 for token in tokens for _ in range(SOCKETS_PER_USER)]
        with connect(f"{live_stack.ws_url}/ws/logs/", max_size=None,
                     additional_headers={"Authorization": f"Bearer {alice_token}"}) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "logs.snapshot"
            reader = Reader(ws, marker)
            reader.start()
            off_loop(publish, marker)
            assert reader.done.wait(timeout=60), (reader.lines, reader.error)
            assert reader.lines >= BATCHES * LIVE_BATCH
            answer = httpx.get(f"{live_stack.base_url}/api/v1/jobs/", timeout=10,
                               headers={"Authorization": f"Bearer {alice_token}"})
            assert answer.status_code == 200
    # The stuck clients read at last: what the server sent ends with its close frame.
    codes = [client.close_code() for client in stuck]
    assert codes == [CLOSE_TOO_SLOW] * len(stuck)
    assert rss.growth < GROWTH_LIMIT, f"grew {rss.growth / 1024**2:.0f} MB"
