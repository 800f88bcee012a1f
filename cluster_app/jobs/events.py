"""The one publisher of live events to browsers: JSON-only dicts with a `type`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

JOBS_GROUP = "jobs"
CLUSTER_GROUP = "cluster"
LOGS_GROUP = "logs"


def job_group(job_id: int) -> str:
    return f"job.{job_id}"


def publish(groups: list[str], event: dict[str, Any], *, already_json: bool = False) -> None:
    """Send `event` to each group now. A broken layer is logged, never raised: the row is
    the truth, and browsers reading it on reconnect lose nothing.

    Events go through a JSON round-trip, which keeps anything a browser could not receive out
    of them; `already_json` skips it for large events built from JSON values only."""
    payload = event if already_json else json.loads(json.dumps(event))
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if _own_loops.enabled:
            _send_on_own_loop(layer, groups, payload)
        else:
            async_to_sync(_send)(layer, groups, payload)
    except Exception:
        logger.warning("could not publish %s", event.get("type"), exc_info=True)


class _OwnLoops(threading.local):
    enabled = False  # for every thread: set on the class (use_own_loops)
    loop: asyncio.AbstractEventLoop | None = None
    pid = 0


_own_loops = _OwnLoops()


def use_own_loops(enabled: bool = True) -> None:
    """From now on each thread of this process publishes on an event loop it keeps, with the
    channel layer's Redis connections (Celery workers, from their start). async_to_sync made a
    new loop, a thread and a connection for every publish: 1.5 ms of CPU, and the cluster poll
    publishes every poll, a job many times."""
    _OwnLoops.enabled = enabled


def _send_on_own_loop(layer: BaseChannelLayer, groups: list[str], payload: dict[str, Any]
                      ) -> None:
    if _own_loops.loop is None or _own_loops.pid != os.getpid():
        # First use in this thread, or in a forked child (the parent's loop has its sockets).
        _own_loops.loop, _own_loops.pid = asyncio.new_event_loop(), os.getpid()
    try:
        _own_loops.loop.run_until_complete(_send(layer, groups, payload))
    except RedisConnectionError:
        # A connection kept from before Redis restarted: dropped by now, so once more, anew.
        _own_loops.loop.run_until_complete(_send(layer, groups, payload))


async def _send(layer: BaseChannelLayer, groups: list[str], payload: dict[str, Any]) -> None:
    for group in groups:
        await layer.group_send(group, payload)


def publish_on_commit(groups: list[str], event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(groups, event))
