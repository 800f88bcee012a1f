"""channels_redis with a connection pool that waits for a free connection.

redis-py's default pool refuses the 101st command in flight, and one web process can have more
at once: every socket joins and leaves its groups, and many do so together when a burst of
log lines drops the clients that stopped reading, or when every browser reconnects after a
restart. A refused command ends that socket (or a healthy one, receiving) with an error.
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool

POOL_CONNECTIONS = 100  # per web process; more commands in flight wait their turn


class WaitingRedisChannelLayer(RedisChannelLayer):
    def create_pool(self, index: int) -> BlockingConnectionPool:
        host: dict[str, Any] = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"),
                                               max_connections=POOL_CONNECTIONS, **host)
