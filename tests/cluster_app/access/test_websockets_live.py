"""Websockets against the real uvicorn: session, token, origin, bad frames, limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from cluster_app.jobs.consumers import CLOSE_BAD_MESSAGE, CLOSE_TOO_MANY

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_anonymous_websocket_is_refused(live_stack):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{live_stack.ws_url}/ws/jobs/", open_timeout=10)
    assert refused.value.response.status_code == 403


def test_bad_token_websocket_is_refused(live_stack):
    with pytest.raises(InvalidStatus):
        connect(f"{live_stack.ws_url}/ws/jobs/",
                additional_headers={"Authorization": "Bearer arthur_wrong"}, open_timeout=10)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def browser(live_stack: Any, user: Any) -> dict[str, str]:
    """What a browser of the panel sends: its session cookie, and the panel's origin."""
    return {"Cookie": session_cookie(user), "Origin": live_stack.base_url}


@contextmanager
def opened(url: str, headers: dict[str, str]) -> Iterator[ClientConnection]:
    """A socket that has had its snapshot."""
    with connect(url, additional_headers=headers, open_timeout=10, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] in ("snapshot", "cluster", "logs.snapshot")
        yield ws


def close_code(ws: ClientConnection, timeout: float = 15.0) -> int:
    """The code the server closes `ws` with, reading (and dropping) events until then."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code


def still_open(ws: ClientConnection) -> bool:
    ws.ping().wait(timeout=5)  # raises if the server closed the socket
    return True


@pytest.mark.parametrize("path", ["/ws/jobs/", "/ws/cluster/"])
def test_browser_session_from_the_panels_origin_is_accepted(live_stack, alice, path):
    with opened(f"{live_stack.ws_url}{path}", browser(live_stack, alice)) as ws:
        assert still_open(ws)


@pytest.mark.parametrize("origin", [
    "http://evil.example",
    "http://127.0.0.1:9999",  # a page on another local port
    "ftp://127.0.0.1",
    "http://evil.example@127.0.0.1",
    "null",
    "https://127.0.0.1:{port}",  # the panel's host and port, another scheme
    "http://evil.example@127.0.0.1:{port}",
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}",  # not the host the socket was opened on
])
@pytest.mark.parametrize("path", ["/ws/jobs/", "/ws/cluster/"])
def test_session_from_another_origin_is_refused(live_stack, alice, origin, path):
    port = live_stack.base_url.rsplit(":", 1)[1]
    headers = {"Cookie": session_cookie(alice), "Origin": origin.format(port=port)}
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{live_stack.ws_url}{path}", additional_headers=headers, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_a_script_without_origin_still_authenticates_by_token(live_stack, alice_token):
    with opened(f"{live_stack.ws_url}/ws/cluster/",
                {"Authorization": f"Bearer {alice_token}"}) as ws:
        assert still_open(ws)


def test_socket_of_an_unknown_job_is_closed(live_stack, alice_token):
    with pytest.raises(InvalidStatus):
        connect(f"{live_stack.ws_url}/ws/jobs/999999/",
                additional_headers={"Authorization": f"Bearer {alice_token}"}, open_timeout=10)


def test_an_idle_socket_stays_open(live_stack, alice_token):
    with opened(f"{live_stack.ws_url}/ws/jobs/",
                {"Authorization": f"Bearer {alice_token}"}) as ws:
        time.sleep(7)  # longer than the layer's 5 s blocking read
        assert still_open(ws)


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", "42", b"\x00binary"])
@pytest.mark.parametrize("path", ["/ws/jobs/", "/ws/cluster/", "/ws/logs/"])
def test_a_frame_that_is_not_a_json_object_closes_the_socket_with_4400(live_stack, alice_token,
                                                                       path, frame):
    with opened(f"{live_stack.ws_url}{path}", {"Authorization": f"Bearer {alice_token}"}) as ws:
        ws.send(frame)
        assert close_code(ws) == CLOSE_BAD_MESSAGE


def test_sockets_beyond_the_users_limit_are_closed_with_4429(live_stack, settings, alice_token):
    url, headers = f"{live_stack.ws_url}/ws/jobs/", {"Authorization": f"Bearer {alice_token}"}
    with ExitStack() as sockets:
        for _ in range(settings.WS_MAX_SOCKETS_PER_USER):
            sockets.enter_context(opened(url, headers))
        # Accepted, then closed with the reason: a browser can tell it from a network error.
        with connect(url, additional_headers=headers, open_timeout=10) as refused:
            assert close_code(refused) == CLOSE_TOO_MANY
    with opened(url, headers) as ws:  # closed sockets made room
        assert still_open(ws)
