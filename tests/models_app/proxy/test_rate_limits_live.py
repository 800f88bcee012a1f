"""Rate limits at the chat proxy, through the real stack: requests per minute, tokens per day
and streams at once, per key and per user, with counters every web process shares."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from arthur_panel.redis_client import redis_client
from cluster_app.access import throttle
from cluster_app.access.limits import CHAT_REQUESTS
from cluster_app.models import ApiToken
from simulators.exo.catalogue import GUIDE_SPEEDS
from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
HELLO = {"model": "llama-3.2-1b", "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def stack_counters(live_stack, settings):
    """This process's counters in the live stack's Redis, and none left from another test."""
    settings.REDIS_URL = live_stack.env["REDIS_URL"]
    client = redis_client()
    if stale := list(client.scan_iter(f"{throttle.RATE_KEY_PREFIX}*")):
        client.delete(*stale)


@pytest.fixture
def slow_llama(exo_url, loaded_llama):
    """Llama generating at 10 tokens a second: a long answer streams for minutes."""
    httpx.post(f"{exo_url}/_sim/settings", json={"model_speeds": {LLAMA_1B: 0.5}})
    yield
    httpx.post(f"{exo_url}/_sim/settings",
               json={"model_speeds": {LLAMA_1B: GUIDE_SPEEDS[LLAMA_1B][0]}})


def streaming(client: httpx.Client) -> Any:
    return client.stream("POST", "/v1/chat/completions",
                         json={**HELLO, "stream": True, "max_tokens": 30000})


def chat(client: httpx.Client, **body) -> httpx.Response:
    return client.post("/v1/chat/completions", json={**HELLO, **body})


def test_the_61st_chat_request_in_a_minute_from_a_key_limited_to_60_is_a_429(
        live_stack, stack_counters, operator, loaded_llama):
    _, secret = ApiToken.issue(user=operator, scopes=["chat"], chat_requests_per_minute=60)
    with api(live_stack, secret) as client:
        assert [chat(client).status_code for _ in range(60)] == [200] * 60
        refused = chat(client)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "60 chat requests per minute for this API key" in refused.json()["error"]["message"]


def test_the_count_is_shared_with_every_web_process(live_stack, stack_counters, operator,
                                                    loaded_llama):
    key, secret = ApiToken.issue(user=operator, scopes=["chat"], chat_requests_per_minute=3)
    for _ in range(3):  # this process, as another web process would
        throttle.take_request(throttle.limits_for(CHAT_REQUESTS, operator, key))
    with api(live_stack, secret) as client:
        assert chat(client).status_code == 429


def test_daily_tokens_refuse_until_midnight_once_used(live_stack, stack_counters, operator,
                                                      loaded_llama):
    _, secret = ApiToken.issue(user=operator, scopes=["chat"], chat_tokens_per_day=40)
    with api(live_stack, secret) as client:
        assert chat(client, max_tokens=30).status_code == 200
        # The answer's tokens are counted as its stream ends, just after the client has it.
        refused = wait_until(lambda: (r := chat(client)).status_code == 429 and r, timeout=10)
    assert 1 <= int(refused.headers["Retry-After"]) <= 86400
    assert "40 chat tokens per day for this API key" in refused.json()["error"]["message"]


def test_a_keys_streams_at_once_are_capped_and_freed(live_stack, stack_counters, operator,
                                                     slow_llama):
    _, secret = ApiToken.issue(user=operator, scopes=["chat"], max_streams=1)
    with api(live_stack, secret) as client:
        with streaming(client) as running:
            chunks = running.iter_raw()  # kept: a dropped iterator would close the stream
            next(chunks)  # under way
            refused = chat(client)
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
            assert "1 chat requests running at once for this API key" in (
                refused.json()["error"]["message"])
        # The client left: its slot is given back as the proxy closes the request to exo.
        wait_until(lambda: chat(client).status_code == 200, timeout=10)


def test_a_users_streams_are_capped_over_all_their_keys(live_stack, stack_counters, operator,
                                                        slow_llama):
    first = ApiToken.issue(user=operator, scopes=["chat"])[1]
    second = ApiToken.issue(user=operator, scopes=["chat"])[1]
    held = []
    with api(live_stack, first) as client:
        # The stack's own setting: RATE_STREAMS_PER_USER from its environment, 4 by default.
        for _ in range(4):
            stream = streaming(client)
            response = stream.__enter__()
            held.append(stream)
            assert response.status_code == 200
        try:
            with api(live_stack, second) as other:
                refused = chat(other)
            assert refused.status_code == 429
            assert "for your account (max_streams)" in refused.json()["error"]["message"]
        finally:
            for stream in held:
                stream.__exit__(None, None, None)
