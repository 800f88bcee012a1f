"""The proxy's HTTP/1.1 to exo: an httpx transport whose answers are parsed by httptools (C,
uvicorn's own parser) and read in batches.

httpx's own transport parses with h11, in Python, one event per chunk: exo writes a chunk per
token, so a fast stream cost the web process more per token than exo spent making it. Here a
read returns every byte that has arrived since the last one, and the socket is not read while
nobody asks (its bytes wait in the kernel), so a reader that pauses between reads (the
relay) gets many tokens per wake-up instead of one.

One connection per request, closed after it (`Connection: close`): a stream holds its
connection for its whole answer anyway, and without a pool there is no stale kept-alive
connection to retry, whether or not exo keeps connections open.
Timeouts: `connect`, and `read` for each wait for bytes (None: for ever); a request's body is
small and written at once.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import cast

import httptools
import httpx

# Once an answer has begun, and while exo sends faster than this, the relay reads exo's stream
# at most this often: the tokens that arrive meanwhile go on to the client together, one write
# instead of one per token, which is most of the web process's work on a fast stream. Far
# below what a reader notices.
RELAY_INTERVAL = 0.005


class Connection(asyncio.Protocol):
    """One request's connection, as asyncio's protocol and httptools' parser callbacks."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.status = 0  # set once the headers are in
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []  # arrived, not yet read
        self.complete = False
        self.close_delimited = False  # no length, not chunked: the body ends with the connection
        self.error: httpx.TransportError | None = None
        self.waiter: asyncio.Future[None] | None = None

    # asyncio's side.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio's, only alike).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"exo's answer is not HTTP: {exc}")
            return
        if self.body or self.complete:
            self._wake()
            # Until the next read, the next bytes stay in the kernel: that read takes them all
            # at once.
            self._pause()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_delimited:
            self.complete = True
        if not self.complete:
            self._fail("exo closed the connection " + (
                "before the end of its answer" if self.status else "without answering"))
        self._wake()

    # httptools' side.

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        names = {name.lower() for name, _ in self.headers}
        self.status = self.parser.get_status_code()
        self.close_delimited = not names & {b"content-length", b"transfer-encoding"} and (
            self.status not in (204, 304))
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        self.close_delimited = False

    # The reader's side.

    async def headers_in(self, timeout: float | None) -> None:
        while not self.status:
            await self._wait(timeout)

    async def read(self, timeout: float | None) -> bytes:
        """What has arrived of the body since the last read, waiting for something if nothing
        has; b"" at its end. An error comes after the bytes that came before it."""
        while not self.body and not self.complete:
            await self._wait(timeout)
        data = b"".join(self.body)
        self.body.clear()
        return data

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def _wait(self, timeout: float | None) -> None:
        if self.error is not None:
            raise self.error
        self.waiter = asyncio.get_running_loop().create_future()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        try:
            await asyncio.wait_for(self.waiter, timeout)
        except TimeoutError:
            self.close()
            raise httpx.ReadTimeout("exo sent nothing in time", request=self.request) from None
        finally:
            self.waiter = None

    def _fail(self, why: str) -> None:
        self.error = self.error or httpx.RemoteProtocolError(why, request=self.request)
        self._wake()
        self.close()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _pause(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()


class _Body(httpx.AsyncByteStream):
    def __init__(self, connection: Connection, timeout: float | None) -> None:
        self.connection, self.timeout = connection, timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while data := await self.connection.read(self.timeout):
            yield data

    async def aclose(self) -> None:
        self.connection.close()


class ExoTransport(httpx.AsyncBaseTransport):
    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.send(await self.connect(request), request)

    async def connect(self, request: httpx.Request) -> Connection:
        """A connection for `request`, to be sent on it (`send`) or closed: opened apart, so
        that it can be opened while the request is still being let in."""
        url = request.url
        secure = url.scheme == "https"
        try:
            async with asyncio.timeout(request.extensions.get("timeout", {}).get("connect")):
                _, connection = await asyncio.get_running_loop().create_connection(
                    lambda: Connection(request), url.host, url.port or (443 if secure else 80),
                    ssl=self.ssl_context if secure else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {url.host} in time",
                                       request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return connection

    @staticmethod
    async def send(connection: Connection, request: httpx.Request) -> httpx.Response:
        """`request` sent on its connection, once exo's answer's headers are in."""
        read = request.extensions.get("timeout", {}).get("read")
        try:
            assert connection.transport is not None
            connection.transport.write(_head(request) + await request.aread())
            await connection.headers_in(read)
        except BaseException:
            connection.close()
            raise
        return httpx.Response(connection.status, headers=connection.headers,
                              stream=_Body(connection, read),
                              extensions={"http_version": b"HTTP/1.1"}, request=request)


def _head(request: httpx.Request) -> bytes:
    """The request line and headers, with `Connection: close` (one request per connection)."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
    lines += [b"%s: %s" % (name, value) for name, value in request.headers.raw
              if name.lower() != b"connection"]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])
