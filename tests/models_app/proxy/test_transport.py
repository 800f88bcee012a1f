"""The proxy's transport to exo against small servers on loopback that answer as told: every
framing of a body, what a paused reader gets, and each way exo can fail; on asyncio's own
event loop and on uvloop's (uvicorn's)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import pytest
import uvloop

from arthur_panel.launcher import free_port
from models_app.proxy.transport import ExoTransport
from tests.threads import off_loop

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request) -> Run:
    """Runs a coroutine on a thread of its own, in an event loop of the kind named."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else None

    def run_on_loop(coroutine: Coroutine[Any, Any, T]) -> T:
        def in_loop() -> T:
            with asyncio.Runner(loop_factory=factory) as runner:
                return runner.run(coroutine)

        return off_loop(in_loop)

    return run_on_loop
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def request_of(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The request's head and body, as exo receives them."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return head, await reader.readexactly(length)


@asynccontextmanager
async def exo(answer: Answer) -> AsyncIterator[httpx.AsyncClient]:
    """A client through the transport to a server that runs `answer` for each connection."""
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     transport=ExoTransport(httpx.create_ssl_context()),
                                     timeout=httpx.Timeout(5.0)) as client:
            yield client
    finally:
        server.close()


def post(run: Run, answer: Answer, *, pause: float = 0.0,
         timeout: float = 5.0) -> tuple[int, list[bytes]]:
    """POST a body through the transport; the status and the reads of the answer's body, each
    read after `pause`."""
    async def scenario() -> tuple[int, list[bytes]]:
        async with exo(answer) as client:
            request = client.build_request("POST", "/v1/chat/completions", json={"model": "m"},
                                           timeout=timeout)
            response = await client.send(request, stream=True)
            reads = []
            try:
                async for data in response.aiter_raw():
                    reads.append(data)
                    await asyncio.sleep(pause)
            finally:
                await response.aclose()
            return response.status_code, reads

    return run(scenario())


def test_the_request_reaches_exo_whole_on_a_connection_of_its_own(run):
    received = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await request_of(reader))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    assert post(run, answer) == (200, [b"ok"])
    ((head, body),) = received
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nConnection: close\r\n" in head and head.lower().count(b"connection:") == 1
    assert json.loads(body) == {"model": "m"}


def test_a_reader_that_pauses_gets_what_arrived_meanwhile_in_one_read(run):
    pieces = [b"data: %d\n\n" % n for n in range(50)]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_of(reader)
        writer.write(HEAD)
        for piece in pieces:  # a chunk per token, each on its own write, as exo sends them
            writer.write(chunk(piece))
            await writer.drain()
            await asyncio.sleep(0.002)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    status, reads = post(run, answer, pause=0.03)
    assert status == 200 and b"".join(reads) == b"".join(pieces)
    assert len(reads) < len(pieces) / 3, len(reads)


@pytest.mark.parametrize("framing", ["content-length", "close"])
def test_bodies_of_every_framing_end_where_they_should(run, framing):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_of(reader)
        length = b"content-length: 11\r\n" if framing == "content-length" else b""
        writer.write(b"HTTP/1.1 404 Not Found\r\n" + length + b"\r\nNo instance")
        await writer.drain()
        writer.close()

    assert post(run, answer) == (404, [b"No instance"])


def test_an_answer_broken_off_gives_its_bytes_then_an_error(run):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_of(reader)
        writer.write(HEAD + chunk(b"data: first\n\n"))
        await writer.drain()
        writer.close()  # exo's process is gone: no closing chunk

    reads: list[bytes] = []

    async def scenario() -> None:
        async with exo(answer) as client, client.stream("POST", "/", json={}) as response:
            async for data in response.aiter_raw():
                reads.append(data)

    with pytest.raises(httpx.RemoteProtocolError, match="before the end of its answer"):
        run(scenario())
    assert reads == [b"data: first\n\n"]


def test_a_connection_closed_without_an_answer_is_an_error(run):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_of(reader)
        writer.close()

    with pytest.raises(httpx.RemoteProtocolError, match="without answering"):
        post(run, answer)


def test_garbage_is_an_error(run):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_of(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()

    with pytest.raises(httpx.RemoteProtocolError, match="not HTTP"):
        post(run, answer)


def test_nothing_listening_is_a_connect_error(run):
    async def scenario() -> None:
        async with httpx.AsyncClient(transport=ExoTransport(httpx.create_ssl_context())) as client:
            await client.post(f"http://127.0.0.1:{free_port()}/v1/chat/completions", json={})

    with pytest.raises(httpx.ConnectError):
        run(scenario())


def test_an_exo_that_says_nothing_times_out_when_asked_to(run):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_of(reader)
        await asyncio.sleep(5)

    with pytest.raises(httpx.ReadTimeout):
        post(run, answer, timeout=0.2)
