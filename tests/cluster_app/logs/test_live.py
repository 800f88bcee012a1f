"""Lines written to a followed file reach /ws/logs/ through `manage.py follow_logs`, Redis and
the real web server, with their class and hint."""

from __future__ import annotations

import json
import signal
import uuid
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from cluster_app.logs.classify import REBOOT_BOTH_MACS, RING_PEER_GONE
from cluster_app.models import Node
from tests.follower import running_follower

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def batches_until(ws: ClientConnection, marker: str, timeout: float = 20.0) -> dict[str, Any]:
    """Read live batches until a line with `marker` comes; return that line."""
    while True:
        message = json.loads(ws.recv(timeout=timeout))
        assert message["type"] == "logs.lines"
        for line in message["lines"]:
            if marker in line["text"]:
                return line


def append(path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def test_lines_reach_the_socket_live_and_in_the_next_backlog(live_stack, nodes, alice_token,
                                                             tmp_path):
    exo_log, stderr_log = tmp_path / "exo.log", tmp_path / "stderr.log"
    Node.objects.filter(name="alpha").update(exo_log_files=[str(exo_log)])
    marker = uuid.uuid4().hex
    headers = {"Authorization": f"Bearer {alice_token}"}
    with running_follower(live_stack, tmp_path / "follow.log", "alpha",
                          reload_seconds=0.5) as follower:
        with connect(f"{live_stack.ws_url}/ws/logs/", additional_headers=headers) as ws:
            snapshot = json.loads(ws.recv(timeout=10))
            assert snapshot["type"] == "logs.snapshot"
            assert snapshot["followers"]["alpha"]["files"][str(exo_log)] == "waiting"
            assert not [line for line in snapshot["lines"] if marker in line["text"]]

            append(exo_log, "[ 2026-06-22 15:38:54.101 | ERROR    | "
                            "exo.worker.runner.runner:main:402 ] "
                            f"RuntimeError: [jaccl] Recv failed with errno=60 {marker}\n")
            line = batches_until(ws, marker)
            assert (line["node"], line["file"], line["level"]) == ("alpha", str(exo_log), "ERROR")
            assert line["classes"] == ["jaccl", "error"] and line["hint"] == REBOOT_BOTH_MACS

            # An admin adds the runner's stderr: the follower takes it up by itself.
            Node.objects.filter(name="alpha").update(
                exo_log_files=[str(exo_log), str(stderr_log)])
            append(stderr_log, f"[ring] Receiving from socket 12 failed with errno 54 {marker}-2\n")
            line = batches_until(ws, f"{marker}-2")
            assert line["file"] == str(stderr_log) and line["time"] is None
            assert line["classes"] == ["ring", "error"] and line["hint"] == RING_PEER_GONE

        with connect(f"{live_stack.ws_url}/ws/logs/", additional_headers=headers) as ws:
            backlog = json.loads(ws.recv(timeout=10))["lines"]
            mine = [line["text"] for line in backlog if marker in line["text"]]
            assert mine == [f"RuntimeError: [jaccl] Recv failed with errno=60 {marker}",
                            f"[ring] Receiving from socket 12 failed with errno 54 {marker}-2"]

        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=15) == 0
    assert (tmp_path / "follow.log").read_text().rstrip().endswith("Stopped.")


def test_an_anonymous_logs_socket_is_refused(live_stack):
    with pytest.raises(InvalidStatus):
        connect(f"{live_stack.ws_url}/ws/logs/", open_timeout=10)
