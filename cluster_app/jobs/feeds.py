"""Other concepts' live frames carried on the page's one jobs socket (every page has the jobs
panel, and each socket counts against the user's limit): a feed names its channel group and
how to read its current frame. A jobs socket opened with `?feeds=1` (pages' are) sends each
feed's frame after its own snapshot, then every `feed.frame` event published to the feed's
group. Registered at start-up
(cluster_app/apps.py), so jobs imports none of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

FRAME_EVENT = "feed.frame"


class Feed(NamedTuple):
    group: str
    current: Callable[[], dict[str, Any]]  # the frame a socket gets when it (re)connects


_feeds: dict[str, Feed] = {}


def register_feed(group: str, current: Callable[[], dict[str, Any]]) -> None:
    _feeds[group] = Feed(group, current)


def feeds() -> list[Feed]:
    return list(_feeds.values())


def frame_event(frame: dict[str, Any]) -> dict[str, Any]:
    """The event that carries `frame` (a JSON object with a `type`) to a feed's sockets."""
    return {"type": FRAME_EVENT, "frame": frame}
