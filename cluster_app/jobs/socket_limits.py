"""What one websocket, and one user's websockets, may hold in the web process."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, deque
from collections.abc import Hashable
from typing import Any


class Outbox:
    """The messages waiting to be written to one socket, bounded by their total size.

    A message counts from `put` until the writer says it was `written`: one the server is
    still pushing out is memory too. Sizes are `len(text)`, which is bytes for the ASCII that
    `json.dumps` writes by default.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._waiting: deque[str] = deque()
        self._ready = asyncio.Event()

    def put(self, text: str) -> bool:
        """Queue `text`; False, queueing nothing, when that would take the outbox past its
        limit. An empty outbox takes any one message, so a large snapshot always goes out."""
        if self.size and self.size + len(text) > self.limit:
            return False
        self._waiting.append(text)
        self.size += len(text)
        self._ready.set()
        return True

    async def next(self) -> str:
        """The oldest message, once there is one; it still counts until `written`."""
        while not self._waiting:
            self._ready.clear()
            await self._ready.wait()
        return self._waiting.popleft()

    def written(self, text: str) -> None:
        self.size -= len(text)

    def clear(self) -> None:
        self._waiting.clear()
        self.size = 0


class SocketCount:
    """Open sockets per key (a user), in this process, up to a limit."""

    def __init__(self) -> None:
        self._open: Counter[Hashable] = Counter()

    def take(self, key: Hashable, limit: int) -> bool:
        """Count one more socket for `key`; False, counting nothing, if it has `limit`."""
        if self._open[key] >= limit:
            return False
        self._open[key] += 1
        return True

    def give_back(self, key: Hashable) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def __getitem__(self, key: Hashable) -> int:
        return self._open[key]

    def __len__(self) -> int:
        """How many keys have a socket open."""
        return len(self._open)


class SharedTexts:
    """The JSON text each group event becomes, made once per event in this process.

    channels_redis hands every local socket of a group the same event object: encoding it once
    saves the CPU per socket, and every outbox then holds the same string, not a copy. An
    event must always become the same message (one handler per event type). The last `keep`
    events are held: every socket handles an event within a few of the newest."""

    def __init__(self, keep: int = 8) -> None:
        self._recent: deque[tuple[dict[str, Any], str]] = deque(maxlen=keep)

    def text(self, event: dict[str, Any], message: dict[str, Any]) -> str:
        """`message`'s JSON text, or the one already made from this very `event`."""
        for seen, text in self._recent:
            if seen is event:  # identity: the recent events are held, so ids are not reused
                return text
        text = json.dumps(message)
        self._recent.append((event, text))
        return text
