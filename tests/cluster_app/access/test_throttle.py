"""The rate-limit counters against the real Redis: sliding minutes, daily tokens, streams,
and a chat request's admission under all three at once."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from arthur_panel.redis_client import redis_client
from cluster_app.access import throttle
from cluster_app.access.limits import CHAT_REQUESTS, CHAT_TOKENS, STREAMS, Limit
from cluster_app.metrics.families import RATE_LIMITED

KEY = Limit(CHAT_REQUESTS, "key:k1", 3)
USER = Limit(CHAT_REQUESTS, "user:7", 5)


def refused(limits: list[Limit]) -> throttle.RateLimited:
    with pytest.raises(throttle.RateLimited) as caught:
        throttle.take_request(limits)
    return caught.value


def test_the_request_after_the_limit_is_refused_and_counts_nowhere() -> None:
    for _ in range(3):
        throttle.take_request([KEY, USER])
    refusal = refused([KEY, USER])
    assert refusal.limit == KEY and refusal.status_code == 429
    assert 1 <= refusal.retry_after <= 60
    assert (throttle.usage(KEY), throttle.usage(USER)) == (3, 3)


def test_the_users_limit_holds_over_all_their_keys() -> None:
    other_key = Limit(CHAT_REQUESTS, "key:k2", 0)
    for _ in range(3):
        throttle.take_request([KEY, USER])
    throttle.take_request([other_key, USER])
    throttle.take_request([USER])  # the browser
    assert refused([other_key, USER]).limit == USER


def test_requests_older_than_a_minute_leave_the_window() -> None:
    for _ in range(3):
        throttle.take_request([KEY])
    window = f"{throttle.RATE_KEY_PREFIX}{KEY.kind}:{KEY.subject}"
    seconds, micros = redis_client().time()
    now_ms = seconds * 1000 + micros // 1000
    # Two of the three made 61 s ago: they no longer count, so two more are let in.
    for member in redis_client().zrange(window, 0, 1):
        redis_client().zadd(window, {member: now_ms - 61_000})
    throttle.take_request([KEY])
    throttle.take_request([KEY])
    assert refused([KEY]).limit == KEY


def test_the_wait_is_until_the_oldest_request_leaves_the_window() -> None:
    limit = Limit(CHAT_REQUESTS, "key:k3", 1)
    throttle.take_request([limit])
    window = f"{throttle.RATE_KEY_PREFIX}{limit.kind}:{limit.subject}"
    seconds, micros = redis_client().time()
    member = redis_client().zrange(window, 0, 0)[0]
    redis_client().zadd(window, {member: seconds * 1000 + micros // 1000 - 50_000})
    assert 9 <= refused([limit]).retry_after <= 11


def test_racing_requests_take_exactly_the_limit() -> None:
    limit = Limit(CHAT_REQUESTS, "user:race", 10)
    outcomes: list[bool] = []

    def ask() -> None:
        try:
            throttle.take_request([limit])
            outcomes.append(True)
        except throttle.RateLimited:
            outcomes.append(False)

    threads = [threading.Thread(target=ask) for _ in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == 10 and throttle.usage(limit) == 10


def test_daily_tokens_refuse_once_reached_until_midnight() -> None:
    limit = Limit(CHAT_TOKENS, "key:k1", 1000)
    throttle.admit(tokens=[limit])
    throttle.release(throttle.StreamSlots(), [limit], 600)
    throttle.admit(tokens=[limit])  # under the limit: let in, whatever its answer's size
    throttle.release(throttle.StreamSlots(), [limit], 600)
    with pytest.raises(throttle.RateLimited) as caught:
        throttle.admit(tokens=[limit])
    assert throttle.usage(limit) == 1200 and 1 <= caught.value.retry_after <= 86400
    assert "1000 chat tokens per day" in caught.value.message


def test_unlimited_counters_count_and_never_refuse() -> None:
    limit = Limit(CHAT_TOKENS, "user:7", 0)
    throttle.release(throttle.StreamSlots(), [limit], 10**9)
    throttle.admit(tokens=[limit])
    assert throttle.usage(limit) == 10**9


def test_a_refused_stream_takes_no_slot() -> None:
    key, user = Limit(STREAMS, "key:k1", 0), Limit(STREAMS, "user:7", 2)
    held = [throttle.admit(streams=[key, user]) for _ in range(2)]
    with pytest.raises(throttle.RateLimited) as caught:
        throttle.admit(streams=[key, user])
    assert caught.value.limit == user and caught.value.retry_after > 0
    assert (throttle.usage(key), throttle.usage(user)) == (2, 2)
    throttle.release(held[0], [], 0)
    assert (throttle.usage(key), throttle.usage(user)) == (1, 1)
    throttle.admit(streams=[key, user])


def test_a_request_refused_by_one_limit_counts_against_none() -> None:
    tokens, minute = Limit(CHAT_TOKENS, "user:8", 0), Limit(CHAT_REQUESTS, "user:8", 1)
    stream = Limit(STREAMS, "user:8", 1)
    slots = throttle.admit(tokens=[tokens], requests=[minute], streams=[stream])
    assert throttle.usage(minute) == 1 and throttle.usage(stream) == 1
    throttle.release(slots, [tokens], 30)
    with pytest.raises(throttle.RateLimited) as caught:  # the minute's request is used
        throttle.admit(tokens=[tokens], requests=[minute], streams=[stream])
    assert caught.value.limit == minute
    assert (throttle.usage(minute), throttle.usage(stream), throttle.usage(tokens)) == (1, 0, 30)


def test_an_ended_stream_gives_back_its_slots_and_counts_its_tokens_at_once() -> None:
    streams, tokens = Limit(STREAMS, "user:7", 2), Limit(CHAT_TOKENS, "user:7", 0)
    slots = throttle.admit(streams=[streams])
    throttle.release(slots, [tokens], 321)
    assert (throttle.usage(streams), throttle.usage(tokens)) == (0, 321)


def test_a_stream_slot_not_renewed_frees_itself_when_its_lease_runs_out(monkeypatch) -> None:
    # A server killed mid-answer never gives its slot back: the lease does.
    monkeypatch.setattr(throttle, "STREAM_LEASE_SECONDS", 0.5)
    streams = Limit(STREAMS, "user:9", 1)
    held, lapsing = throttle.admit(streams=[streams]), None
    with pytest.raises(throttle.RateLimited):
        throttle.admit(streams=[streams])
    time.sleep(0.3)
    throttle.renew([held])  # held on, to 0.8 s from the start
    time.sleep(0.3)
    assert throttle.usage(streams) == 1
    with pytest.raises(throttle.RateLimited):
        throttle.admit(streams=[streams])
    time.sleep(0.3)  # 0.9 s: not renewed again
    assert throttle.usage(streams) == 0
    lapsing = throttle.admit(streams=[streams])
    throttle.renew([held])  # a lease run out is not taken again by its late renewal
    assert throttle.usage(streams) == 1
    throttle.release(lapsing, [], 0)
    assert throttle.usage(streams) == 0


def test_standing_shows_a_keys_own_limits_and_use(settings) -> None:
    settings.RATE_API_REQUESTS_PER_MINUTE = 600
    user = SimpleNamespace(pk=7)
    key = SimpleNamespace(pk="k9", chat_requests_per_minute=60, chat_tokens_per_day=None,
                          api_requests_per_minute=None, max_streams=2)
    throttle.take_request(throttle.limits_for(CHAT_REQUESTS, user, key))
    rows = {row["kind"]: row for row in throttle.standing(user, key)}
    assert rows[CHAT_REQUESTS] == {"kind": CHAT_REQUESTS, "name": "chat requests per minute",
                                   "used": 1, "allowed": 60}
    assert rows[STREAMS]["allowed"] == 2 and rows[CHAT_TOKENS]["allowed"] is None
    mine = {row["kind"]: row for row in throttle.standing(user)}
    assert mine["api_requests_per_minute"]["allowed"] == 600 and mine[CHAT_REQUESTS]["used"] == 1


def test_each_refusal_is_counted_for_prometheus() -> None:
    counted = RATE_LIMITED.labels("chat_requests_per_minute", "key")
    before = counted._value.get()
    throttle.take_request([Limit(CHAT_REQUESTS, "key:k7", 1)])
    with pytest.raises(throttle.RateLimited):
        throttle.take_request([Limit(CHAT_REQUESTS, "key:k7", 1)])
    assert counted._value.get() == before + 1
