"""The life of one alert (one rule, one subject): inactive -> pending (the condition holds,
its "for" runs) -> firing -> resolved, and which notice each step sends. Pure: the caller
gives the time and whether the subject is silenced.

A firing notice goes out once per episode (when it starts firing, or when a silence over it
ends while it still fires); a resolved notice only follows a firing notice that went out."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Notice(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Track:
    state: State
    pending_since: datetime
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    notified: bool = False  # the firing notice went out


@dataclass(frozen=True)
class Step:
    """The alert after one evaluation (None: inactive, nothing to keep) and the notice due."""

    track: Track | None
    notice: Notice | None = None


def step(track: Track | None, *, holds: bool, now: datetime, hold: timedelta,
         silenced: bool) -> Step:
    """The next state of an active (pending or firing) or absent alert, given whether its
    condition `holds` now; `hold` is the rule's "for"."""
    if track is None or track.state is State.RESOLVED:
        if not holds:
            return Step(None)
        track = Track(State.PENDING, pending_since=now)
    if not holds:
        if track.state is State.PENDING:
            return Step(None)  # never fired: nothing happened worth a notice
        resolved = replace(track, state=State.RESOLVED, resolved_at=now)
        return Step(resolved, Notice.RESOLVED if track.notified else None)
    if track.state is State.PENDING and now - track.pending_since >= hold:
        track = replace(track, state=State.FIRING, fired_at=now)
    if track.state is State.FIRING and not track.notified and not silenced:
        return Step(replace(track, notified=True), Notice.FIRING)
    return Step(track)
