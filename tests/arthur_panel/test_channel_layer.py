"""The channel layer on the private Redis: a burst of commands waits for connections, and a
cancelled receive ends whenever the cancellation comes."""

from __future__ import annotations

import asyncio
import time

from django.conf import settings
from redis.asyncio import BlockingConnectionPool

from arthur_panel.channel_layer import POOL_CONNECTIONS, WaitingRedisChannelLayer
from tests.threads import run_async


def layer() -> WaitingRedisChannelLayer:
    """The panel's layer, as its settings make it, under a prefix of its own."""
    return WaitingRedisChannelLayer(**{**settings.CHANNEL_LAYERS["default"]["CONFIG"],
                                       "prefix": "arthur-test-layer"})


def test_the_pool_waits_instead_of_refusing():
    pool = layer().create_pool(0)
    assert isinstance(pool, BlockingConnectionPool)
    assert pool.max_connections == POOL_CONNECTIONS


def test_more_group_changes_at_once_than_connections_all_succeed():
    async def burst() -> None:
        channels = layer()
        names = [await channels.new_channel() for _ in range(3 * POOL_CONNECTIONS)]
        await asyncio.gather(*(channels.group_add("burst", name) for name in names))
        await asyncio.gather(*(channels.group_discard("burst", name) for name in names))
        await channels.flush()

    run_async(burst())


def test_a_receive_cancelled_at_any_moment_ends_within_one_read():
    """Cancelled anywhere from its first command's write to its wait for a message (the moments
    a socket's client leaves), a receive ends by the end of that read, never goes back to
    reading: on Python 3.11 some of these cancellations are swallowed inside redis-py."""

    async def cancelled_receives() -> list[float]:
        channels = layer()
        took = []
        for attempt in range(60):
            receiving = asyncio.ensure_future(channels.receive(await channels.new_channel()))
            await asyncio.sleep((attempt % 30) * 0.0001)
            receiving.cancel()
            start = time.monotonic()
            await asyncio.wait([receiving], timeout=channels.brpop_timeout + 2)
            took.append(time.monotonic() - start)
            assert receiving.cancelled(), f"attempt {attempt}: still receiving after {took[-1]} s"
        await channels.flush()
        return took

    took = run_async(cancelled_receives())
    assert max(took) < layer().brpop_timeout + 1
