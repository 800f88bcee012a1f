"""The web server as several processes (WEB_CONCURRENCY=2), against the live stack's Redis and
database: both processes take connections from the one port, and a websocket on one process
gets the event that a request served by the other caused."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psutil
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.stack import free_port, start, stop, wait_for_web, web_command

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
PROCESSES = 2


@dataclass
class Web:
    port: int
    pid: int  # uvicorn's parent: it binds the port and starts the server processes

    def servers(self) -> list[psutil.Process]:
        """The processes serving connections (uvicorn's parent also starts multiprocessing's
        resource tracker, which listens on nothing)."""
        return [child for child in psutil.Process(self.pid).children()
                if any(c.status == psutil.CONN_LISTEN for c in child.net_connections("tcp"))]

    def server_of(self, client_port: int) -> int:
        """The pid of the process holding the server end of the connection from
        `client_port`."""
        for server in self.servers():
            for connection in server.net_connections("tcp"):
                if connection.raddr and connection.raddr.port == client_port:
                    return server.pid
        raise AssertionError(f"no server process holds the connection from port {client_port}")


@pytest.fixture
def two_process_web(live_stack, tmp_path) -> Iterator[Web]:
    port = free_port()
    process = start(web_command(), {**live_stack.env, "HOST": "127.0.0.1", "PORT": str(port),
                                    "WEB_CONCURRENCY": str(PROCESSES)}, tmp_path / "web.log")
    try:
        wait_for_web(f"http://127.0.0.1:{port}")
        yield Web(port, process.pid)
    finally:
        stop(process)


def socket_on_each_process(web: Web, token: str, sockets: ExitStack
                           ) -> dict[int, ClientConnection]:
    """A jobs socket (its snapshot read) on every server process: opened until each has one,
    as the kernel hands each new connection to whichever process accepts it first."""
    by_server: dict[int, ClientConnection] = {}
    deadline = time.monotonic() + 60
    while len(by_server) < PROCESSES:
        assert time.monotonic() < deadline, f"connections reached only {sorted(by_server)}"
        ws = sockets.enter_context(connect(
            f"ws://127.0.0.1:{web.port}/ws/jobs/", open_timeout=10,
            additional_headers={"Authorization": f"Bearer {token}"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        server = web.server_of(ws.socket.getsockname()[1])
        if server in by_server:
            ws.close()  # a second one there: not needed
        else:
            by_server[server] = ws
    return by_server


def create_ping(web: Web, token: str) -> tuple[int, int]:
    """A ping job made over HTTP: its id, and the pid of the process that served the request
    (the connection is kept open until then)."""
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        connection.request("POST", "/api/v1/jobs/", body=json.dumps(
            {"kind": "ping", "node": "alpha", "params": {"count": 1}}), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 201, body
        assert connection.sock is not None
        return body["id"], web.server_of(connection.sock.getsockname()[1])
    finally:
        connection.close()


def jobs_seen(ws: ClientConnection, job_id: int) -> dict[str, Any]:
    """The first event about `job_id` on a jobs socket."""
    deadline = time.monotonic() + 15
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if frame.get("type") == "job" and frame["job"]["id"] == job_id:
            return frame["job"]


def test_web_concurrency_starts_that_many_server_processes(two_process_web):
    assert len(two_process_web.servers()) == PROCESSES


def test_a_socket_gets_the_event_a_request_to_another_process_caused(two_process_web, nodes,
                                                                     alice_token):
    with ExitStack() as sockets:
        by_server = socket_on_each_process(two_process_web, alice_token, sockets)
        job_id, served_by = create_ping(two_process_web, alice_token)
        (elsewhere,) = [ws for server, ws in by_server.items() if server != served_by]
        assert jobs_seen(elsewhere, job_id)["id"] == job_id
        assert jobs_seen(by_server[served_by], job_id)["id"] == job_id


def test_server_processes_end_when_their_parent_is_killed(live_stack, tmp_path):
    # Left serving, they would hold the port and the output pipe: make run's supervisor would
    # neither see the web server end nor be able to start it again.
    port = free_port()
    process = start(web_command(), {**live_stack.env, "HOST": "127.0.0.1", "PORT": str(port),
                                    "WEB_CONCURRENCY": str(PROCESSES)}, tmp_path / "web.log")
    try:
        wait_for_web(f"http://127.0.0.1:{port}")
        servers = Web(port, process.pid).servers()
        assert len(servers) == PROCESSES
        process.kill()
        _, alive = psutil.wait_procs(servers, timeout=20)
        assert alive == []
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        stop(process)
