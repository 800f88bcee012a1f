"""One Redis client per process for the panel's own keys (counters, rings, locks).

Django's cache is per async context under ASGI, so each request would open its own pool;
this client and its connection pool are shared, and redis-py's pool is thread-safe.
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def redis_client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)
