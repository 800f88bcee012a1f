"""Bandwidth cap: a pacer that delays each chunk so the byte rate stays under the limit."""

from __future__ import annotations

import asyncio

MIN_CHUNK = 1024
MAX_CHUNK = 256 * 1024


class Pacer:
    """Spaces out chunks at `rate` bytes/s; shared by every response when the cap is global."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._next = 0.0

    async def pace(self, nbytes: int) -> None:
        now = asyncio.get_running_loop().time()
        # Reserve the slot before sleeping, so concurrent responses queue behind each other.
        start = max(now, self._next)
        self._next = start + nbytes / self.rate
        delay = self._next - now
        if delay > 0:
            await asyncio.sleep(delay)


class Bandwidth:
    def __init__(self, bytes_per_second: int | None = None, per_connection: bool = False) -> None:
        self.bytes_per_second = bytes_per_second
        self.per_connection = per_connection
        self._shared = Pacer(bytes_per_second) if bytes_per_second else None

    def pacer(self) -> Pacer | None:
        """Returns the pacer one response must use, or None when there is no cap."""
        if not self.bytes_per_second:
            return None
        if self.per_connection:
            return Pacer(self.bytes_per_second)
        return self._shared

    def chunk_size(self) -> int:
        """Returns the chunk size: about 20 chunks a second when capped, so progress moves
        smoothly."""
        if not self.bytes_per_second:
            return MAX_CHUNK
        return max(MIN_CHUNK, min(MAX_CHUNK, self.bytes_per_second // 20))

    def as_json(self) -> dict[str, object]:
        return {
            "bytes_per_second": self.bytes_per_second,
            "per": "connection" if self.per_connection else "global",
        }
