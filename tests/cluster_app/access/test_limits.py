"""Rate limits, pure: which counters a request adds to, how a refusal reads, when a day ends."""

from __future__ import annotations

from datetime import datetime

import pytest

from cluster_app.access.limits import (
    API_REQUESTS,
    CHAT_REQUESTS,
    STREAMS,
    Limit,
    applicable,
    day_of,
    refusal,
    retry_seconds,
    seconds_to_next_day,
)


def test_a_key_adds_to_its_own_counter_first_then_its_users() -> None:
    assert applicable(CHAT_REQUESTS, key_id="k1", key_limit=60, user_pk=7, user_limit=300) == [
        Limit(CHAT_REQUESTS, "key:k1", 60), Limit(CHAT_REQUESTS, "user:7", 300)]


def test_a_key_without_a_limit_of_its_own_is_still_counted() -> None:
    assert applicable(API_REQUESTS, key_id="k1", key_limit=None, user_pk=7, user_limit=0) == [
        Limit(API_REQUESTS, "key:k1", 0), Limit(API_REQUESTS, "user:7", 0)]


def test_a_browser_session_has_only_its_users_counter() -> None:
    assert applicable(STREAMS, key_id=None, key_limit=None, user_pk=7, user_limit=4) == [
        Limit(STREAMS, "user:7", 4)]


def test_a_refusal_names_the_limit_whose_it_is_and_the_wait() -> None:
    assert refusal(Limit(CHAT_REQUESTS, "key:k1", 60), 12) == (
        "Rate limit reached: 60 chat requests per minute for this API key "
        "(chat_requests_per_minute). Try again in 12 s.")
    assert "for your account" in refusal(Limit(STREAMS, "user:7", 4), 5)


@pytest.mark.parametrize("now, seconds", [
    (datetime(2026, 12, 5, 23, 59, 30), 30),
    (datetime(2026, 12, 5, 23, 59, 59, 500_000), 1),
    (datetime(2026, 12, 5, 0, 0, 0), 86400),
    (datetime(2026, 12, 31, 12, 0, 0), 43200),
])
def test_the_daily_counters_start_again_at_midnight(now: datetime, seconds: int) -> None:
    assert seconds_to_next_day(now) == seconds


def test_a_day_is_named_by_its_date() -> None:
    assert day_of(datetime(2026, 1, 2, 23, 0)) == "20260102"


@pytest.mark.parametrize("ms, seconds", [(0, 1), (1, 1), (1000, 1), (1001, 2), (59_999, 60)])
def test_waits_round_up_to_whole_seconds(ms: int, seconds: int) -> None:
    assert retry_seconds(ms) == seconds
