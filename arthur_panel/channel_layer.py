"""channels_redis with a connection pool that waits for a free connection, and a receive that
a cancellation always ends.

redis-py's default pool refuses the 101st command in flight, and one web process can have more
at once: every socket joins and leaves its groups, and many do so together when a burst of
log lines drops the clients that stopped reading, or when every browser reconnects after a
restart. A refused command ends that socket (or a healthy one, receiving) with an error.

A socket's consumer, once its client has gone, cancels its receive. redis-py writes each
command under `asyncio.wait_for`, which on Python 3.11 swallows a cancellation that arrives as
the write completes; channels_redis then read again, 5 s at a time, for ever: the consumer
never ended, and a web process's shutdown waited out its grace for it. Here a receive ends at
the end of the read the cancellation came in, which blocks 1 s at most.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool

POOL_CONNECTIONS = 100  # per web process; more commands in flight wait their turn


class WaitingRedisChannelLayer(RedisChannelLayer):
    # How long a receive's read blocks in Redis (channels_redis's default is 5 s).
    brpop_timeout = 1

    def create_pool(self, index: int) -> BlockingConnectionPool:
        host: dict[str, Any] = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"),
                                               max_connections=POOL_CONNECTIONS, **host)

    async def _brpop_with_clean(self, index: int, channel: str, timeout: int) -> Any:
        member = await super()._brpop_with_clean(index, channel, timeout)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # A message taken meanwhile is not lost: it waits in the backup queue, which the
            # next receive on the channel puts back first.
            raise asyncio.CancelledError
        return member
