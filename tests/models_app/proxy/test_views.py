"""The proxy in-process: exo down, CSRF for browser sessions, resolving names."""

from __future__ import annotations

import asyncio
import gc
import json

import pytest
import redis
from asgiref.sync import sync_to_async
from django.test import Client, RequestFactory

from arthur_panel.launcher import free_port
from cluster_app.access import throttle
from cluster_app.access.limits import STREAMS
from cluster_app.models import ApiToken
from models_app.models import LlmModel, NameRoute, RouteRule, UsageRecord
from models_app.proxy import lookups, relay
from models_app.proxy.calls import Call
from models_app.proxy.resolve import Resolved, resolve
from models_app.proxy.views import _body
from models_app.usage.meter import StreamMeter
from tests.conftest import LLAMA_1B
from tests.threads import off_loop, run_async

# Transactional: the proxy reads tokens and models on a pool thread, with its own connection.
pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "llama-3.2-1b", "messages": [{"role": "user", "content": "Hi"}]}
SLOTS = throttle.StreamSlots(("arthur:rate:max_streams:user:1:leases",), "m1")


def post(client, body=BODY, **headers):
    return off_loop(client.post, "/v1/chat/completions", data=json.dumps(body),
                    content_type="application/json", headers=headers)


def test_exo_down_is_a_503_with_a_message(client, alice_token, settings):
    settings.EXO_API_URL = f"http://127.0.0.1:{free_port()}"
    response = post(client, Authorization=f"Bearer {alice_token}")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "exo_unavailable"
    assert "is not answering" in response.json()["error"]["message"]


def test_redis_away_is_a_503_to_try_again(client, alice_token, monkeypatch):
    def refused(**limits):  # the request is let in by Redis before it goes to exo
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(throttle, "admit", refused)
    response = post(client, Authorization=f"Bearer {alice_token}")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "redis_unavailable"


def test_an_answer_ending_while_redis_is_away_is_recorded_and_settled_once_it_is_back(
        alice, monkeypatch):
    answers = iter([redis.ConnectionError("Connection refused."), None])

    def release(slots, token_limits, tokens):
        if error := next(answers):
            raise error
        released.append((slots, tokens))

    released: list[tuple[throttle.StreamSlots, int]] = []
    monkeypatch.setattr(throttle, "release", release)
    monkeypatch.setattr(relay, "RELEASE_RETRY_SECONDS", (0, 0))
    meter = StreamMeter(started=0.0, prompt_tokens=5, completion_tokens=7, finished=True)
    call = Call(api="chat", user=alice, token=None, requested="llama-3.2-1b",
                      model_id=LLAMA_1B, stream=True)

    async def scenario() -> None:
        await relay._settle(call, meter, SLOTS, 200, "ok", "")
        assert released == []  # Redis away: only the record so far
        await asyncio.gather(*relay._releasing)

    run_async(scenario())
    assert UsageRecord.objects.get().status == "ok"
    assert released == [(SLOTS, 12)]


def test_a_running_request_keeps_its_stream_slot_until_it_is_settled(alice, monkeypatch):
    monkeypatch.setattr(throttle, "STREAM_LEASE_SECONDS", 0.3)
    monkeypatch.setattr(throttle, "STREAM_RENEW_SECONDS", 0.05)
    streams = throttle.limits_for(STREAMS, alice, None)
    meter = StreamMeter(started=0.0, prompt_tokens=1, completion_tokens=1, finished=True)

    async def scenario() -> list[int]:
        call = Call(api="chat", user=alice, token=None, model_id=LLAMA_1B, stream=True)
        relay._hold(call, throttle.admit(streams=streams))
        await asyncio.sleep(0.8)  # over two leases: renewed meanwhile
        running = await off_loop_usage(streams)
        await relay._settle(call, meter, call.slots, 200, "ok", "")
        return [running, await off_loop_usage(streams)]

    assert run_async(scenario()) == [1, 0]


def test_a_request_dropped_unsettled_is_renewed_no_more(alice, monkeypatch):
    # Its client left before the answer began: nothing settles it, and its lease runs out.
    monkeypatch.setattr(throttle, "STREAM_LEASE_SECONDS", 0.3)
    monkeypatch.setattr(throttle, "STREAM_RENEW_SECONDS", 0.05)
    streams = throttle.limits_for(STREAMS, alice, None)

    async def scenario() -> tuple[int, int]:
        call = Call(api="chat", user=alice, token=None, model_id=LLAMA_1B, stream=True)
        relay._hold(call, throttle.admit(streams=streams))
        held = len(relay._HELD[asyncio.get_running_loop()])
        del call
        gc.collect()
        await asyncio.sleep(0.5)
        return held, await off_loop_usage(streams)

    assert run_async(scenario()) == (1, 0)


async def off_loop_usage(limits) -> int:
    return await sync_to_async(throttle.usage, thread_sensitive=False)(limits[0])


def test_a_browser_session_needs_the_csrf_token(alice, exo_url):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = post(browser)
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"


def test_names_resolve_through_the_catalogue(guide_models):
    assert resolve("llama-3.2-1b") == Resolved("mlx-community/Llama-3.2-1B-Instruct-4bit",
                                               "llama-3.2-1b")
    assert resolve("deepseek") == Resolved("mlx-community/DeepSeek-V3.1-4bit", "deepseek-v3-4bit")
    assert resolve("mlx-community/Meta-Llama-3.1-70B-Instruct-4bit").slug == "llama-3.1-70b"
    assert resolve("some/other-model") == Resolved("some/other-model")


@pytest.mark.parametrize(("name", "task"), [
    ("claude-sonnet-4-5-20250929", "coding"), ("claude-3-7-sonnet-latest", "coding"),
    ("claude-opus-4-1-20250805", "coding"), ("Claude-Opus-4-1", "coding"),
    ("claude-3-5-haiku-20241022", "quick"), ("claude-haiku-4-5", "quick"),
    ("claude-instant-1.2", "coding"),  # any other Claude name
    ("gpt-4o", None), ("sonnet", None),
])
def test_claude_codes_own_names_go_to_the_routers_tasks(guide_models, name, task):
    assert resolve(name).task == task


def test_name_routes_are_data_the_admin_edits(guide_models):
    haiku = NameRoute.objects.get(pattern="claude-*haiku*")
    haiku.rule = RouteRule.objects.get(task="testing")
    haiku.save()
    assert lookups.model("claude-3-5-haiku-20241022").task == "testing"  # not kept from before
    NameRoute.objects.filter(pattern="claude-*").update(enabled=False)
    lookups.forget()
    assert resolve("claude-instant-1.2") == Resolved("claude-instant-1.2")


def test_wrong_method_is_refused(client, alice_token):
    response = off_loop(client.get, "/v1/chat/completions",
                        headers={"Authorization": f"Bearer {alice_token}"})
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_deeply_nested_json_is_a_400(client, alice_token):
    response = off_loop(client.post, "/v1/chat/completions", data="[" * 10_000,
                        content_type="application/json",
                        headers={"Authorization": f"Bearer {alice_token}"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"


def test_lookups_are_kept_and_forgotten_when_the_catalogue_changes(guide_models,
                                                                  django_assert_num_queries):
    first = lookups.model("llama-3.2-1b")
    with django_assert_num_queries(0):
        assert lookups.model("llama-3.2-1b") == first
    LlmModel.objects.filter(slug="llama-3.2-1b").get().save()  # an edit in the admin
    with django_assert_num_queries(1):
        assert lookups.model("llama-3.2-1b") == first


def test_a_deleted_token_is_refused_at_once(client, alice_token, settings):
    settings.EXO_API_URL = f"http://127.0.0.1:{free_port()}"
    assert post(client, Authorization=f"Bearer {alice_token}").status_code == 503  # kept now
    ApiToken.objects.all().delete()
    response = post(client, Authorization=f"Bearer {alice_token}")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("given, forwarded", [
    ({}, 4096),
    ({"max_tokens": None}, 4096),
    ({"max_tokens": 20}, 20),
    ({"max_completion_tokens": 30}, 30),
])
def test_the_configured_cap_is_the_default_answer_length(settings, given, forwarded):
    settings.CHAT_MAX_TOKENS = 4096
    request = RequestFactory().post("/v1/chat/completions", data=json.dumps({**BODY, **given}),
                                    content_type="application/json")
    assert _body(request)["max_tokens"] == forwarded
