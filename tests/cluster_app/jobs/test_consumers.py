"""The websocket consumers in-process, through the real `application` and an in-memory layer:
a client that does not read, the per-user socket limit, frames that are not JSON objects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from arthur_panel.asgi import application
from cluster_app.jobs import consumers
from cluster_app.jobs.events import LOGS_GROUP
from cluster_app.models import ApiToken
from tests.threads import run_async

pytestmark = pytest.mark.django_db(transaction=True)

Send = Callable[[dict[str, Any]], Awaitable[None]]


@pytest.fixture
def layer(settings: Any) -> Any:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


class Stalled:
    """The application behind a client that stops reading after the first message: later
    sends wait as they do on a socket whose buffers are full (and the close too, if asked)."""

    def __init__(self, *, close_too: bool = False) -> None:
        self.close_too = close_too
        self.sent = 0
        self.never = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        async def stalled_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                self.sent += 1
                if self.sent > 1:
                    await self.never.wait()
            elif message["type"] == "websocket.close" and self.close_too:
                await self.never.wait()
            await send(message)

        await application(scope, receive, stalled_send)


def socket(path: str, token: str, app: Any = application) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {token}".encode())]
    return WebsocketCommunicator(app, path, headers=headers)


async def opened(path: str, token: str, app: Any = application) -> WebsocketCommunicator:
    """A socket that is open and has had its snapshot."""
    communicator = socket(path, token, app)
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    await communicator.receive_json_from(timeout=5)
    return communicator


async def flood(layer: Any, communicator: WebsocketCommunicator, batches: int = 20) -> None:
    """Log batches of 20 kB each into the logs group until the socket is dropped."""
    line = {"node": "alpha", "text": "x" * 20_000}
    for _ in range(batches):
        await layer.group_send(LOGS_GROUP, {"type": "logs.lines", "lines": [line], "skipped": 0})
        await asyncio.sleep(0.01)
        if communicator.future.done():
            return


def test_a_client_that_does_not_read_is_dropped_and_its_groups_left(layer, settings, nodes,
                                                                     alice_token):
    settings.WS_OUTBOX_BYTES = 50_000

    async def scenario() -> None:
        communicator = await opened("/ws/logs/", alice_token, Stalled())
        await flood(layer, communicator)
        closed = await communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": consumers.CLOSE_TOO_SLOW}
        await communicator.wait(timeout=5)  # the consumer stopped
        assert layer.groups.get(LOGS_GROUP, {}) == {}
        assert [group for group in layer.groups if layer.groups[group]] == []
        assert len(consumers.open_sockets) == 0

    run_async(scenario())


def test_a_close_that_cannot_be_written_does_not_hold_the_consumer(layer, settings, monkeypatch,
                                                                   nodes, alice_token):
    settings.WS_OUTBOX_BYTES = 50_000
    monkeypatch.setattr(consumers, "CLOSE_TIMEOUT_SECONDS", 0.2)

    async def scenario() -> None:
        communicator = await opened("/ws/logs/", alice_token, Stalled(close_too=True))
        await flood(layer, communicator)
        await communicator.wait(timeout=5)
        assert communicator.future.done() and communicator.future.exception() is None
        assert await communicator.receive_nothing()  # no close could be written
        assert [group for group in layer.groups if layer.groups[group]] == []
        assert len(consumers.open_sockets) == 0

    run_async(scenario())


def test_a_reading_client_gets_every_batch(layer, settings, nodes, alice_token):
    settings.WS_OUTBOX_BYTES = 50_000

    async def scenario() -> None:
        communicator = await opened("/ws/logs/", alice_token)
        for n in range(20):
            await layer.group_send(LOGS_GROUP, {"type": "logs.lines", "skipped": 0,
                                                "lines": [{"text": f"{n} " + "x" * 20_000}]})
            message = await communicator.receive_json_from(timeout=5)
            assert message["lines"][0]["text"].startswith(f"{n} ")
        await communicator.disconnect()

    run_async(scenario())


@pytest.fixture
def bob_token(django_user_model: Any) -> str:
    bob = django_user_model.objects.create_user("bob", password="bob-password-1")
    return ApiToken.issue(user=bob)[1]


def test_sockets_beyond_the_users_limit_are_closed_with_4429(layer, settings, alice_token,
                                                             bob_token):
    settings.WS_MAX_SOCKETS_PER_USER = 2

    async def scenario() -> None:
        first, second = [await opened("/ws/jobs/", alice_token) for _ in range(2)]
        third = socket("/ws/jobs/", alice_token)
        connected, _ = await third.connect(timeout=5)
        assert connected  # accepted, so that a browser can read why it is closed
        assert await third.receive_output(timeout=5) == {"type": "websocket.close",
                                                         "code": consumers.CLOSE_TOO_MANY}
        await third.wait(timeout=5)
        assert len(layer.groups["jobs"]) == 2  # the refused socket joined nothing

        others = await opened("/ws/jobs/", bob_token)  # a limit per user
        await first.disconnect()
        fourth = await opened("/ws/jobs/", alice_token)  # a socket closed makes room
        for communicator in (second, others, fourth):
            await communicator.disconnect()
        assert len(consumers.open_sockets) == 0

    run_async(scenario())


@pytest.mark.parametrize("frame", [
    {"text_data": "not json"},
    {"text_data": "[1, 2]"},
    {"text_data": "42"},
    {"text_data": "null"},
    {"text_data": "[" * 50_000},  # too deep for the parser
    {"bytes_data": b"\x00\x01"},
])
def test_a_frame_that_is_not_a_json_object_closes_with_4400(layer, nodes, alice_token, frame):
    async def scenario() -> None:
        communicator = await opened("/ws/logs/", alice_token)
        await communicator.send_to(**frame)
        closed = await communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": consumers.CLOSE_BAD_MESSAGE}
        await communicator.wait(timeout=5)
        assert communicator.future.exception() is None

    run_async(scenario())


@pytest.mark.parametrize("path", ["/ws/jobs/", "/ws/cluster/", "/ws/logs/"])
def test_every_socket_closes_on_a_bad_frame_and_ignores_a_json_object(layer, nodes,
                                                                      alice_token, path):
    async def scenario() -> None:
        communicator = await opened(path, alice_token)
        await communicator.send_json_to({"hello": "panel"})
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.send_to(text_data="{oops")
        closed = await communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": consumers.CLOSE_BAD_MESSAGE}
        await communicator.wait(timeout=5)

    run_async(scenario())


def test_a_socket_opened_while_redis_is_away_is_closed_to_try_again(layer, monkeypatch,
                                                                   alice_token):
    async def refuse(group: str, channel: str) -> None:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(layer, "group_add", refuse)

    async def scenario() -> None:
        communicator = socket("/ws/jobs/", alice_token)
        connected, _ = await communicator.connect(timeout=5)
        assert connected  # accepted, then closed: not a failed handshake
        closed = await communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": consumers.CLOSE_TRY_AGAIN}
        await communicator.wait(timeout=5)
        assert len(consumers.open_sockets) == 0

    run_async(scenario())


def test_an_open_socket_whose_redis_goes_away_is_closed_to_try_again(layer, monkeypatch,
                                                                    alice_token):
    gone = asyncio.Event()

    async def receive(channel: str) -> dict[str, Any]:
        await gone.wait()
        raise redis.ConnectionError("Connection closed by server.")

    monkeypatch.setattr(layer, "receive", receive)

    async def scenario() -> None:
        communicator = await opened("/ws/jobs/", alice_token)
        gone.set()  # Redis killed: the socket would get no more events
        closed = await communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": consumers.CLOSE_TRY_AGAIN}
        await communicator.wait(timeout=5)
        assert [group for group in layer.groups if layer.groups[group]] == []

    run_async(scenario())
