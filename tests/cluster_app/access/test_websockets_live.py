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


def test_browser_session_from_the_panels_origin_is_accepted(live_stack, alice):
    headers = {"Cookie": session_cookie(alice), "Origin": live_stack.base_url}
    with connect(f"{live_stack.ws_url}/ws/jobs/", additional_headers=headers) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"


def test_session_from_a_foreign_origin_is_refused(live_stack, alice):
    headers = {"Cookie": session_cookie(alice), "Origin": "http://evil.example"}
    with pytest.raises(InvalidStatus):
        connect(f"{live_stack.ws_url}/ws/jobs/", additional_headers=headers, open_timeout=10)


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
