"""One Redis client per process for the panel's own keys (counters, rings, locks).

Django's cache is per async context under ASGI, so each request would open its own pool;
this client and its connection pool are shared, and redis-py's pool is thread-safe. Code on an
event loop that must not wait on a thread (the chat proxy's hot path) has an asyncio client of
its own per loop: its connections belong to the loop that opened them.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from typing import TypeVar

import redis
import redis.asyncio
from django.conf import settings

T = TypeVar("T")


@functools.cache
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def redis_client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


def unless_under_way(lock_key: str, timeout: float, work: Callable[[], T]) -> T | None:
    """`work()` holding the Redis lock `lock_key` (at most `timeout` seconds, should its process
    die), unless another process or thread holds it: None then."""
    lock = redis_client().lock(lock_key, timeout=timeout, blocking=False)
    if not lock.acquire():
        return None
    try:
        return work()
    finally:
        lock.release()


_ASYNC_CLIENTS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, redis.asyncio.Redis]] = weakref.WeakKeyDictionary()


def async_redis_client() -> redis.asyncio.Redis:
    """The running event loop's asyncio client."""
    clients = _ASYNC_CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(settings.REDIS_URL)
    if client is None:
        client = clients[settings.REDIS_URL] = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    return client
