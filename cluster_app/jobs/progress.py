"""Pure progress arithmetic: smoothed speed, ETA and rate limiting. No I/O, no clock."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class SpeedMeter:
    """Exponentially smoothed rate of units per second.

    `half_life` is how many seconds it takes for an old sample's weight to halve: short
    enough to follow a real change of speed, long enough that one burst does not swing the ETA.
    """

    half_life: float = 3.0
    rate: float | None = None
    _last_time: float | None = None
    _last_done: int = 0

    def update(self, now: float, done: int) -> float | None:
        """Feed the running total at time `now`; return the smoothed rate."""
        if self._last_time is None or done < self._last_done:
            self._last_time, self._last_done = now, done
            return self.rate
        elapsed = now - self._last_time
        if elapsed <= 0:
            return self.rate
        sample = (done - self._last_done) / elapsed
        weight = 1.0 - math.pow(0.5, elapsed / self.half_life)
        self.rate = sample if self.rate is None else self.rate + weight * (sample - self.rate)
        self._last_time, self._last_done = now, done
        return self.rate


def eta_seconds(done: int, total: int | None, rate: float | None) -> float | None:
    """Seconds left at `rate`, or None when it cannot be told (no total, no movement)."""
    if total is None or rate is None or rate <= 0:
        return None
    return max(total - done, 0) / rate


def fraction(done: int, total: int | None) -> float:
    """Share done, clamped to [0, 1] so a total that grows late never shows past 100%."""
    if not total or total <= 0:
        return 0.0
    return min(max(done / total, 0.0), 1.0)


@dataclass
class Throttle:
    """Says whether at least `interval` seconds passed since the last time it said yes."""

    interval: float
    _last: float | None = None

    def ready(self, now: float) -> bool:
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True


def bounded_tail(lines: list[str], new: list[str], limit: int) -> list[str]:
    """The last `limit` lines of `lines + new`."""
    combined = [*lines, *new]
    return combined[-limit:] if limit > 0 else []
