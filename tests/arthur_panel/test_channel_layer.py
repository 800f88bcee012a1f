"""The channel layer on the private Redis: a burst of commands waits for connections."""

from __future__ import annotations

import asyncio
import os

from redis.asyncio import BlockingConnectionPool

from arthur_panel.channel_layer import POOL_CONNECTIONS, WaitingRedisChannelLayer
from tests.threads import run_async


def layer() -> WaitingRedisChannelLayer:
    return WaitingRedisChannelLayer(hosts=[{"address": os.environ["REDIS_URL"]}],
                                    prefix="arthur-test-layer")


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
