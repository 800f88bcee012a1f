"""Rate-limit counters in Redis, shared by every web process: sliding-minute request windows,
daily token totals and running-stream slots. `RateLimited` is the refusal (429 with
Retry-After); the limits come from `limits.py` and the settings."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from arthur_panel.exceptions import DomainError
from arthur_panel.redis_client import redis_client
from cluster_app.access.limits import (
    API_REQUESTS,
    CHAT_REQUESTS,
    CHAT_TOKENS,
    KINDS,
    STREAM_RETRY_SECONDS,
    STREAMS,
    WINDOW_SECONDS,
    Limit,
    applicable,
    day_of,
    refusal,
    retry_seconds,
    seconds_to_next_day,
)
from cluster_app.metrics.families import RATE_LIMITED

# A request is let in, or not, in one script: every limit is checked before any is counted, so
# two processes cannot both take the last request of a minute or the last stream slot, and a
# refused request counts against nothing.
# KEYS: today's token totals, then the per-minute windows, then the running streams' leases
# (both sorted sets). ARGV: how many token totals, how many windows, the window in ms, a unique
# member, a stream lease in ms, then each key's allowance (0: none, only counted).
# Answers {0, 0}, or {the index of the limit hit, ms until a window's oldest request leaves it}.
_ADMIT = """
local totals, windows = tonumber(ARGV[1]), tonumber(ARGV[2])
local window, lease = tonumber(ARGV[3]), tonumber(ARGV[5])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
for i, key in ipairs(KEYS) do
  local allowed = tonumber(ARGV[5 + i])
  if i > totals and i <= totals + windows then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    if allowed > 0 and redis.call('ZCARD', key) >= allowed then
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      return {i, tonumber(oldest[2]) + window - now}
    end
  elseif i > totals then
    -- A stream's lease runs out unless renewed: a killed server's streams free their slots.
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if allowed > 0 and redis.call('ZCARD', key) >= allowed then
      return {i, 0}
    end
  elseif allowed > 0 and tonumber(redis.call('GET', key) or '0') >= allowed then
    return {i, 0}
  end
end
for i = totals + 1, #KEYS do
  if i <= totals + windows then
    redis.call('ZADD', KEYS[i], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[i], window)
  else
    redis.call('ZADD', KEYS[i], now + lease, ARGV[4])
    redis.call('PEXPIRE', KEYS[i], lease)
  end
end
return {0, 0}
"""
# Running streams' leases pushed on (KEYS: lease sets; ARGV: the lease in ms, then each key's
# member). Only leases still held: one already given back or run out is not taken again.
_RENEW = """
local clock = redis.call('TIME')
local lease = tonumber(ARGV[1])
local until_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) + lease
for i, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', until_ms, ARGV[1 + i]) == 1 then
    redis.call('PEXPIRE', key, lease)
  end
end
"""
# How long a stream's slot is held without renewal, and how often a running stream renews it:
# a server killed mid-stream frees its slots within the lease.
STREAM_LEASE_SECONDS = 60.0
STREAM_RENEW_SECONDS = STREAM_LEASE_SECONDS / 4
RATE_KEY_PREFIX = "arthur:rate:"
_TOKEN_DAYS_KEPT = 2 * 86400  # a day's total, kept past its midnight for the usage page


# Every limit's count from 0, so a scrape lists them before the first refusal.
for _kind in KINDS:
    for _whose in ("key", "user"):
        RATE_LIMITED.labels(_kind, _whose)


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, limit: Limit, retry_after: int) -> None:
        super().__init__(refusal(limit, retry_after))
        self.limit, self.retry_after = limit, retry_after
        RATE_LIMITED.labels(limit.kind, limit.subject.split(":", 1)[0]).inc()


class ApiRateThrottle(BaseThrottle):
    """The API's requests per minute, per key and per user (DRF runs it after authentication,
    so anonymous calls are refused as such first)."""

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.user is not None and request.user.is_authenticated:
            take_request(limits_for(API_REQUESTS, request.user, request.auth))
        return True


def _window_key(limit: Limit) -> str:
    return f"{RATE_KEY_PREFIX}{limit.kind}:{limit.subject}"


def _leases_key(limit: Limit) -> str:
    return f"{RATE_KEY_PREFIX}{limit.kind}:{limit.subject}:leases"


def _tokens_key(limit: Limit) -> str:
    return f"{RATE_KEY_PREFIX}{limit.kind}:{limit.subject}:{day_of(timezone.localtime())}"


def user_limits() -> dict[str, int]:
    """Every user's own limits (the settings RATE_*; 0: none)."""
    return {CHAT_REQUESTS: settings.RATE_CHAT_REQUESTS_PER_MINUTE,
            CHAT_TOKENS: settings.RATE_CHAT_TOKENS_PER_DAY,
            API_REQUESTS: settings.RATE_API_REQUESTS_PER_MINUTE,
            STREAMS: settings.RATE_STREAMS_PER_USER}


def limits_for(kind: str, user: Any, token: Any) -> list[Limit]:
    """The limits of `kind` on a request by `user` with API key `token` (or None)."""
    return applicable(kind, key_id=getattr(token, "pk", None),
                      key_limit=getattr(token, kind, None),
                      user_pk=getattr(user, "pk", "anonymous"), user_limit=user_limits()[kind])


@dataclass(frozen=True)
class StreamSlots:
    """The running-stream slots one request holds: its lease in each of `keys`."""

    keys: tuple[str, ...] = ()
    member: str = ""


@dataclass(frozen=True)
class Admission:
    """One request's way in: the admitting script's keys and arguments, and how to read its
    answer (`settle`). Built apart from the trip to Redis, which a caller on an event loop
    makes through an asyncio client (models_app/proxy/express.py)."""

    limits: tuple[Limit, ...]
    keys: tuple[str, ...]
    args: tuple[int | str, ...]
    counted: int  # how many of `keys` are counts (token totals, windows); the rest are slots

    @property
    def member(self) -> str:
        return str(self.args[3])

    def settle(self, hit: int, wait_ms: int) -> StreamSlots:
        """The stream slots taken, or RateLimited for the limit the script names (`hit`)."""
        if hit:
            index = int(hit) - 1
            limit = self.limits[index]
            if index < int(self.args[0]):  # a daily token total
                raise RateLimited(limit, seconds_to_next_day(timezone.localtime()))
            raise RateLimited(limit, retry_seconds(int(wait_ms)) if index < self.counted
                              else STREAM_RETRY_SECONDS)
        return StreamSlots(self.keys[self.counted:], self.member)


ADMIT_SHA = hashlib.sha1(_ADMIT.encode()).hexdigest()  # what EVALSHA names it by


def admission(*, tokens: Sequence[Limit] = (), requests: Sequence[Limit] = (),
              streams: Sequence[Limit] = ()) -> Admission:
    """How to let a request in under every limit, in one trip to Redis (`admit`)."""
    limits = (*tokens, *requests, *streams)
    keys = (*map(_tokens_key, tokens), *map(_window_key, requests), *map(_leases_key, streams))
    return Admission(limits, keys, (len(tokens), len(requests), WINDOW_SECONDS * 1000,
                                    uuid.uuid4().hex, _lease_ms(),
                                    *(limit.allowed for limit in limits)),
                     counted=len(tokens) + len(requests))


def admit(*, tokens: Sequence[Limit] = (), requests: Sequence[Limit] = (),
          streams: Sequence[Limit] = ()) -> StreamSlots:
    """Let a request in under every limit, in one trip to Redis, or RateLimited (counting
    nothing): today's `tokens` not yet spent (a request below a daily limit is let in whatever
    its answer's size, known only at its end), one more of its `requests` per minute, one more
    of its running `streams`. Returns the stream slots it took, leased for
    STREAM_LEASE_SECONDS: renew them while the request runs, release them at its end."""
    way_in = admission(tokens=tokens, requests=requests, streams=streams)
    hit, wait_ms = redis_client().register_script(_ADMIT)(keys=way_in.keys, args=way_in.args)
    return way_in.settle(hit, wait_ms)


def renew(held: Sequence[StreamSlots]) -> None:
    """Hold running requests' stream slots for another STREAM_LEASE_SECONDS, in one trip."""
    keys = [key for slots in held for key in slots.keys]
    if keys:
        redis_client().register_script(_RENEW)(
            keys=keys, args=[_lease_ms(), *(slots.member for slots in held for _ in slots.keys)])


def _lease_ms() -> int:
    return int(STREAM_LEASE_SECONDS * 1000)


def take_request(limits: list[Limit]) -> None:
    """Count one request against every per-minute limit, or RateLimited (counting nothing)."""
    admit(requests=limits)


def give_back(slots: StreamSlots) -> None:
    release(slots, [], 0)


def release(slots: StreamSlots, token_limits: Sequence[Limit], tokens: int) -> None:
    """A finished request's stream slots given back and its tokens added to today's totals, in
    one transaction: all of it, or none when Redis does not answer (to be tried again)."""
    with redis_client().pipeline() as pipe:
        for key in slots.keys:
            pipe.zrem(key, slots.member)
        if tokens > 0:
            for limit in token_limits:
                pipe.incrby(_tokens_key(limit), tokens)
                pipe.expire(_tokens_key(limit), _TOKEN_DAYS_KEPT)
        pipe.execute()


def usage(limit: Limit) -> int:
    """How much of `limit` is used now: requests in the last minute, tokens today, or streams
    running."""
    client = redis_client()
    if limit.kind == CHAT_TOKENS:
        return int(client.get(_tokens_key(limit)) or 0)
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    if limit.kind == STREAMS:  # the leases not run out
        return int(client.zcount(_leases_key(limit), f"({now_ms}", "+inf"))
    return int(client.zcount(_window_key(limit), now_ms - WINDOW_SECONDS * 1000, "+inf"))


def standing(user: Any, token: Any = None) -> list[dict[str, Any]]:
    """Each limit of `token` (its own; None: no limit but its user's) or, with no token, of
    `user`, with its use now: for the Keys and Usage pages."""
    rows = []
    for kind in KINDS:
        limit = limits_for(kind, user, token)[0]
        rows.append({"kind": kind, "name": limit.label, "used": usage(limit),
                     "allowed": limit.allowed or None})
    return rows
