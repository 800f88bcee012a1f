"""Websocket authentication against the real web server: session, token, origin."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

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


@pytest.mark.parametrize("path", ["/ws/jobs/", "/ws/cluster/"])
def test_browser_session_from_the_panels_origin_is_accepted(live_stack, alice, path):
    headers = {"Cookie": session_cookie(alice), "Origin": live_stack.base_url}
    with connect(f"{live_stack.ws_url}{path}", additional_headers=headers) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] in ("snapshot", "cluster")


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
    with connect(f"{live_stack.ws_url}/ws/cluster/",
                 additional_headers={"Authorization": f"Bearer {alice_token}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "cluster"


def test_socket_of_an_unknown_job_is_closed(live_stack, alice_token):
    with pytest.raises(InvalidStatus):
        connect(f"{live_stack.ws_url}/ws/jobs/999999/",
                additional_headers={"Authorization": f"Bearer {alice_token}"}, open_timeout=10)


def test_an_idle_socket_stays_open(live_stack, alice_token):
    with connect(f"{live_stack.ws_url}/ws/jobs/",
                 additional_headers={"Authorization": f"Bearer {alice_token}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        time.sleep(7)  # longer than the layer's 5 s blocking read
        ws.ping().wait(timeout=5)  # raises if the server closed the socket
