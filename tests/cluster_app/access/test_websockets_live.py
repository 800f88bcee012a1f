"""Websockets against the real uvicorn: session, token, origin, revocation, bad frames, limits."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from cluster_app.jobs.consumers import (
    CLOSE_BAD_MESSAGE,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
)
from cluster_app.models import ApiToken
from tests.threads import off_loop

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_anonymous_websocket_is_refused(live_stack):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{live_stack.ws_url}/ws/jobs/", open_timeout=10)
    assert refused.value.response.status_code == 403


def test_a_browser_whose_login_ended_is_told_so(live_stack, alice):
    client = Client()
    client.force_login(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    client.logout()  # in another tab: the session is gone
    with connect(f"{live_stack.ws_url}/ws/jobs/", open_timeout=10,
                 additional_headers={"Cookie": cookie, "Origin": live_stack.base_url}) as ws:
        assert close_code(ws) == CLOSE_UNAUTHENTICATED  # the page reloads to the login page


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


# Revocation: sockets already open close with 4401 when their credential stops being valid.
# Changes made in this process publish to the stack's layer (`stack_layer`), off the event loop
# the browser tests leave in the main thread.


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", password="bob-password-1")


def test_deleting_a_token_closes_its_sockets(live_stack, stack_layer, alice, alice_token):
    other_token = ApiToken.issue(user=alice, name="other")[1]
    url = f"{live_stack.ws_url}/ws/jobs/"
    with opened(url, {"Authorization": f"Bearer {alice_token}"}) as revoked, \
            opened(url, {"Authorization": f"Bearer {other_token}"}) as other:
        off_loop(ApiToken.objects.filter(digest=ApiToken.digest_of(alice_token)).delete)
        assert close_code(revoked) == CLOSE_UNAUTHENTICATED
        assert still_open(other)


@pytest.mark.parametrize("revoke", ["deactivate", "delete"])
def test_deactivating_or_deleting_a_user_closes_all_their_sockets(live_stack, stack_layer, alice,
                                                                  alice_token, bob, revoke):
    url = f"{live_stack.ws_url}/ws/jobs/"
    with opened(url, {"Authorization": f"Bearer {alice_token}"}) as by_token, \
            opened(url, browser(live_stack, alice)) as by_session, \
            opened(url, browser(live_stack, bob)) as bobs:
        if revoke == "deactivate":
            alice.is_active = False
            off_loop(alice.save)
        else:
            off_loop(alice.delete)
        assert close_code(by_token) == CLOSE_UNAUTHENTICATED
        assert close_code(by_session) == CLOSE_UNAUTHENTICATED
        assert still_open(bobs)


def test_logging_out_closes_that_sessions_sockets(live_stack, alice):
    url, cookie = f"{live_stack.ws_url}/ws/jobs/", session_cookie(alice)
    with opened(url, {"Cookie": cookie, "Origin": live_stack.base_url}) as logged_out, \
            opened(url, browser(live_stack, alice)) as other:
        # A logout through the panel itself: the signal fires in the web process.
        csrf = secrets.token_hex(16)
        answer = httpx.post(f"{live_stack.base_url}/logout/", timeout=10,
                            headers={"Cookie": f"{cookie}; csrftoken={csrf}", "X-CSRFToken": csrf})
        assert answer.status_code == 302
        assert close_code(logged_out) == CLOSE_UNAUTHENTICATED
        assert still_open(other)  # the same user's other session


def test_a_new_password_closes_the_users_session_sockets(live_stack, stack_layer, alice,
                                                         alice_token, bob):
    url = f"{live_stack.ws_url}/ws/jobs/"
    with opened(url, browser(live_stack, alice)) as session, \
            opened(url, {"Authorization": f"Bearer {alice_token}"}) as by_token, \
            opened(url, browser(live_stack, bob)) as bobs:
        alice.set_password("a-new-password-2")
        off_loop(alice.save)
        assert close_code(session) == CLOSE_UNAUTHENTICATED
        assert still_open(by_token)  # tokens outlive a password change, as over HTTP
        assert still_open(bobs)
