"""Sending a file body: byte ranges, the bandwidth cap, and drop/stall/corrupt faults."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator

from starlette.types import Receive, Scope, Send

from .bandwidth import Pacer
from .content import FileSource
from .faults import Fault
from .stats import FileStats

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class InjectedDrop(Exception):
    """Raised mid-body on purpose: the server then closes the connection without finishing."""


class QuietInjectedDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every connection we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDrop))


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Returns the [start, end) asked for by a single-range `Range` header, None for the whole file.

    A header we cannot parse is ignored (whole file), as RFC 9110 allows; a range that starts
    past the end raises RangeNotSatisfiable.
    """
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable
        return max(size - length, 0), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if start >= size or end <= start:
        raise RangeNotSatisfiable
    return start, end


def _corrupt(chunk: bytes, position: int, faults: list[Fault], size: int) -> bytes:
    for fault in faults:
        at = fault.offset if fault.offset is not None else size // 2
        lo, hi = max(at, position), min(at + fault.length, position + len(chunk))
        if lo < hi:
            data = bytearray(chunk)
            for i in range(lo - position, hi - position):
                data[i] ^= 0xFF
            chunk = bytes(data)
    return chunk


class FileBody:
    """ASGI response streaming [start, end) of `source`, paced and with faults applied."""

    def __init__(
        self,
        *,
        status: int,
        headers: dict[str, str],
        source: FileSource,
        start: int,
        end: int,
        send_body: bool,
        pacer: Pacer | None,
        chunk_size: int,
        faults: list[Fault],
        stats: FileStats,
    ) -> None:
        self.status = status
        self.headers = headers
        self.source = source
        self.start, self.end = start, end
        self.send_body = send_body
        self.pacer = pacer
        self.chunk_size = chunk_size
        self.faults = faults
        self.stats = stats

    def _chunks(self) -> Iterator[tuple[int, bytes]]:
        position = self.start
        for piece in self.source.iter_range(self.start, self.end):
            for i in range(0, len(piece), self.chunk_size):
                chunk = piece[i : i + self.chunk_size]
                yield position, chunk
                position += len(chunk)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": raw_headers})
        if not self.send_body:
            await send({"type": "http.response.body", "body": b""})
            return
        gone = asyncio.Event()
        watcher = asyncio.create_task(self._watch_disconnect(receive, gone))
        try:
            await self._stream(send, gone)
        finally:
            watcher.cancel()

    @staticmethod
    async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
        # uvicorn silently drops writes to a closed socket; without this a client that went
        # away would keep us generating (and pacing) the rest of the file.
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    async def _stream(self, send: Send, gone: asyncio.Event) -> None:
        corrupt = [f for f in self.faults if f.kind == "corrupt"]
        # Drop and stall points, as offsets into this response's body.
        events = sorted(
            (f.after_bytes, f.kind, f.seconds) for f in self.faults if f.kind != "corrupt"
        )
        sent = 0
        for position, chunk in self._chunks():
            chunk = _corrupt(chunk, position, corrupt, self.source.size)
            while events and events[0][0] < sent + len(chunk):
                at, kind, seconds = events.pop(0)
                head, chunk = chunk[: at - sent], chunk[at - sent :]
                sent += await self._send(send, head)
                if kind == "drop":
                    raise InjectedDrop(f"dropped after {sent} bytes")
                await asyncio.sleep(seconds)
            if gone.is_set():
                return
            sent += await self._send(send, chunk)
        await send({"type": "http.response.body", "body": b""})
        self.stats.completed += 1

    async def _send(self, send: Send, chunk: bytes) -> int:
        if not chunk:
            return 0
        if self.pacer is not None:
            await self.pacer.pace(len(chunk))
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        self.stats.bytes += len(chunk)
        return len(chunk)
