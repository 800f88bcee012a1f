"""The OpenAI-compatible proxy through the real stack: the official openai client, aliases,
streaming framing kept (exo's keep-alives while a model loads), clear errors for a model not
loaded and for exo down, and how each answer ended in its usage record."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from models_app.models import RouteRule, UsageRecord
from simulators.exo.catalogue import GUIDE_SPEEDS
from tests.stack import FAST_LOAD_TIME, api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"



def openai_client(stack, token) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.base_url}/v1", api_key=token, max_retries=0)


def test_openai_client_streams_through_the_panel_by_alias(live_stack, alice_token, loaded_llama):
    client = openai_client(live_stack, alice_token)
    chunks = list(client.chat.completions.create(
        model="llama-3.2-1b", messages=[{"role": "user", "content": "Hello"}], max_tokens=20,
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0
    assert all(c.model == LLAMA_1B for c in chunks)


def test_openai_client_without_streaming(live_stack, alice_token, loaded_llama):
    reply = openai_client(live_stack, alice_token).chat.completions.create(
        model="llama-1b",  # a catalogue alias
        messages=[{"role": "user", "content": "Hi"}], max_tokens=10)
    assert reply.choices[0].message.content and reply.usage.total_tokens > 0


def test_the_stream_keeps_exos_framing(live_stack, alice_token, loaded_llama):
    with httpx.stream("POST", f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {alice_token}"},
                      json={"model": "llama-3.2-1b", "stream": True, "max_tokens": 8,
                            "messages": [{"role": "user", "content": "Hello"}]}) as response:
        raw = b"".join(response.iter_raw()).decode()
    assert response.headers["x-arthur-model"] == LLAMA_1B
    assert raw.startswith(": keep-alive")
    assert ": generation_stats " in raw and raw.rstrip().endswith("data: [DONE]")


def test_a_model_not_loaded_is_a_clear_404(live_stack, alice_token, guide_models):
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client(live_stack, alice_token).chat.completions.create(
            model="deepseek-v3-4bit", messages=[{"role": "user", "content": "Hi"}], max_tokens=5)
    message = missing.value.body["message"]
    assert "deepseek-v3-4bit (mlx-community/DeepSeek-V3.1-4bit) is not loaded" in message
    assert "/api/v1/instances/" in message


def test_models_list_names_catalogue_aliases(live_stack, alice_token, guide_models):
    models = {m.id: m for m in openai_client(live_stack, alice_token).models.list()}
    assert LLAMA_1B in models
    assert "llama-3.2-1b" in models[LLAMA_1B].model_extra["arthur_names"]


@pytest.mark.parametrize(("headers", "body", "status"), [
    ({}, {"model": "x", "messages": [{"role": "user", "content": "x"}]}, 401),
    ({"Authorization": "Bearer arthur_wrong"}, {"model": "x", "messages": []}, 401),
])
def test_the_proxy_needs_a_login_or_token(live_stack, headers, body, status):
    response = httpx.post(f"{live_stack.base_url}/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == status and response.json()["error"]["message"]


@pytest.mark.parametrize(("content", "fragment"), [
    ("{not json", "not valid JSON"), ('{"messages": []}', '"model"'),
    ('{"model": "llama-3.2-1b", "messages": []}', "messages"), ("[1, 2]", '"model"'),
])
def test_bad_bodies_are_400(live_stack, alice_token, content, fragment):
    response = httpx.post(f"{live_stack.base_url}/v1/chat/completions", content=content,
                          headers={"Authorization": f"Bearer {alice_token}",
                                   "Content-Type": "application/json"})
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]


def test_auto_routes_by_task_to_the_next_ready_model(live_stack, alice_token, loaded_llama):
    wait_until(lambda: any(i["status"] == "ready" and i["model_id"] == LLAMA_1B for i in
                           (httpx.get(f"{live_stack.base_url}/api/v1/cluster/", headers={
                               "Authorization": f"Bearer {alice_token}"}).json()["instances"])))
    response = httpx.post(f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {alice_token}",
                                   "X-Arthur-Task": "quick"},
                          json={"model": "auto", "max_tokens": 5,
                                "messages": [{"role": "user", "content": "Hi"}]})
    assert response.status_code == 200
    assert response.headers["x-arthur-route"] == (
        "auto:quick -> llama-3.2-1b (llama-3.1-8b, llama-3.1-70b not ready)")
    record = UsageRecord.objects.latest("created_at")
    assert record.route == response.headers["x-arthur-route"] and record.slug == "llama-3.2-1b"

    coding = httpx.post(f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                        headers={"Authorization": f"Bearer {alice_token}"},
                        json={"model": "auto", "task": "coding", "max_tokens": 5,
                              "messages": [{"role": "user", "content": "Hi"}]})
    assert coding.status_code == 503
    assert "No model for task 'coding' is ready" in coding.json()["error"]["message"]


def test_every_request_leaves_a_usage_record(live_stack, alice_token, alice, loaded_llama):
    openai_client(live_stack, alice_token).chat.completions.create(
        model="llama-3.2-1b", messages=[{"role": "user", "content": "Count to ten"}],
        max_tokens=30, stream=True).close()
    record = wait_until(lambda: UsageRecord.objects.filter(stream=True).first())
    assert record.user == alice and record.token is not None and record.api == "chat"
    assert record.model_id == LLAMA_1B and record.requested_model == "llama-3.2-1b"
    with api(live_stack, alice_token) as client:
        usage = client.get("/api/v1/usage/").json()
    assert usage["requests"][0]["model_id"] == LLAMA_1B


def test_anthropic_messages_for_claude_code(live_stack, alice_token, loaded_llama):
    client = anthropic.Anthropic(base_url=live_stack.base_url, api_key=alice_token, max_retries=0)
    reply = client.messages.create(model="llama-3.2-1b", max_tokens=20,
                                   messages=[{"role": "user", "content": "Hello"}])
    assert reply.content[0].text and reply.usage.output_tokens > 0
    with client.messages.stream(model="llama-3.2-1b", max_tokens=20,
                                messages=[{"role": "user", "content": "Hello"}]) as stream:
        text = "".join(stream.text_stream)
    assert text
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="deepseek-v3-4bit", max_tokens=5,
                               messages=[{"role": "user", "content": "Hi"}])
    assert "is not loaded on the cluster" in str(missing.value)


def test_claude_codes_own_model_names_go_where_the_router_sends_them(live_stack, alice_token,
                                                                    loaded_llama):
    """Claude Code asks for claude-*-sonnet-* and claude-*-opus-* for its main work and
    claude-*-haiku-* for background work: sonnet and opus go to the coding route, haiku to the
    quick route, and the first ready model of the route answers."""
    # The router reads what is ready from the latest poll.
    wait_until(lambda: any(i["status"] == "ready" and i["model_id"] == LLAMA_1B for i in
                           (httpx.get(f"{live_stack.base_url}/api/v1/cluster/", headers={
                               "Authorization": f"Bearer {alice_token}"}).json()["instances"])))
    client = anthropic.Anthropic(base_url=live_stack.base_url, api_key=alice_token, max_retries=0)
    hello = [{"role": "user", "content": "Hello"}]
    raw = client.messages.with_raw_response.create(model="claude-3-5-haiku-20241022",
                                                   max_tokens=10, messages=hello)
    assert raw.parse().content[0].text
    assert raw.headers["x-arthur-route"] == ("claude-3-5-haiku-20241022:quick -> llama-3.2-1b "
                                             "(llama-3.1-8b, llama-3.1-70b not ready)")
    assert raw.headers["x-arthur-model"] == LLAMA_1B
    # Nothing on the coding route is loaded: a clear refusal, in Anthropic's error shape.
    with pytest.raises(anthropic.APIStatusError) as refused:
        client.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=10, messages=hello)
    assert refused.value.status_code == 503
    assert refused.value.body["error"]["type"] == "no_model_ready"
    assert "(claude-sonnet-4-5-20250929 goes to it)" in refused.value.body["error"]["message"]
    # The routes are data: with the small model on the coding route, Sonnet and Opus answer.
    coding = RouteRule.objects.get(task="coding")
    coding.slugs = [*coding.slugs, "llama-3.2-1b"]
    coding.save()
    reply = client.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=10,
                                   messages=hello)
    assert reply.content[0].text and reply.usage.output_tokens > 0
    with client.messages.stream(model="claude-opus-4-1-20250805", max_tokens=10,
                                messages=hello) as stream:
        assert "".join(stream.text_stream)
    opus = wait_until(lambda: UsageRecord.objects.filter(
        requested_model="claude-opus-4-1-20250805").first())
    assert (opus.api, opus.slug, opus.model_id, opus.status) == (
        "messages", "llama-3.2-1b", LLAMA_1B, "ok")
    assert opus.route.startswith("claude-opus-4-1-20250805:coding -> llama-3.2-1b")


def llama_runner_states(exo_url: str) -> set[str]:
    """exo's state tags (RunnerReady, RunnerRunning...) of every runner serving Llama 1B; a
    runner exo does not list yet (its process starting) is "absent"."""
    state = httpx.get(f"{exo_url}/state").json()
    tags = set()
    for tagged in state["instances"].values():
        assignments = next(iter(tagged.values()))["shardAssignments"]
        if assignments["modelId"] == LLAMA_1B:
            tags |= {next(iter(state["runners"].get(runner, {"absent": None})))
                     for runner in assignments["nodeToRunner"].values()}
    return tags


@pytest.mark.parametrize("lane", ["whole way", "express"])
def test_a_disconnected_client_cancels_at_exo(live_stack, alice_token, loaded_llama, exo_url,
                                              lane):
    if lane == "express":  # a first request fills what the key's next ones take the lane with
        httpx.post(f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                   headers={"Authorization": f"Bearer {alice_token}"},
                   json={"model": "llama-3.2-1b", "max_tokens": 1,
                         "messages": [{"role": "user", "content": "Hi"}]}).raise_for_status()
    # 10 tokens a second (the simulator runs at 20x): 30,000 tokens would take nearly an hour.
    httpx.post(f"{exo_url}/_sim/settings", json={"model_speeds": {LLAMA_1B: 0.5}})
    try:
        with httpx.stream("POST", f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {alice_token}"},
                          json={"model": "llama-3.2-1b", "stream": True, "max_tokens": 30000,
                                "messages": [{"role": "user", "content": "Go on"}]}) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    # Streaming: exo is generating. Leaving the loop hangs up.
                    assert "RunnerRunning" in llama_runner_states(exo_url)
                    break
        # The simulator saw the cancel: it stopped generating at once, not in an hour.
        wait_until(lambda: llama_runner_states(exo_url) == {"RunnerReady"}, timeout=10)
    finally:
        httpx.post(f"{exo_url}/_sim/settings", json={
            "model_speeds": {LLAMA_1B: GUIDE_SPEEDS[LLAMA_1B][0]}})
    record = wait_until(lambda: UsageRecord.objects.filter(status="cancelled").first(), timeout=30)
    assert record.http_status == 499 and record.first_token_ms is not None


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"model": "llama-3.2-1b", "max_tokens": 10**9, "messages": [{"role": "user", "content": "x"}]},
     400, "invalid_max_tokens"),
    ({"model": "llama-3.2-1b", "messages": [{"role": "user", "content": "x" * 5_000_000}]},
     413, "request_too_large"),
])
def test_limits_answer_clearly(live_stack, alice_token, body, status, code):
    response = httpx.post(f"{live_stack.base_url}/v1/chat/completions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {alice_token}"})
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_max_completion_tokens_reaches_exo_as_max_tokens(live_stack, alice_token, loaded_llama):
    # exo reads max_tokens only; the simulator ignores max_completion_tokens as exo does.
    reply = openai_client(live_stack, alice_token).chat.completions.create(
        model="llama-3.2-1b", messages=[{"role": "user", "content": "Tell me a long story"}],
        max_completion_tokens=3)
    assert reply.usage.completion_tokens == 3


def test_a_chat_to_a_loading_model_shows_exos_keep_alive_until_it_answers(
        live_stack, alice_token, nodes, guide_models, exo_url):
    """exo holds a request for a model still loading, sending keep-alive comments: the client
    gets them at once through the panel, then the answer."""
    httpx.post(f"{exo_url}/_sim/settings", json={"load_time": 4})
    try:
        with api(live_stack, alice_token) as client:
            job = client.post("/api/v1/instances/", json={"model": "llama-3.2-1b"}).json()
            wait_until(lambda: llama_runner_states(exo_url), timeout=20)  # placed, loading
            with httpx.stream("POST", f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                              headers={"Authorization": f"Bearer {alice_token}"},
                              json={"model": "llama-3.2-1b", "stream": True, "max_tokens": 5,
                                    "messages": [{"role": "user", "content": "Hi"}]}) as reply:
                lines = reply.iter_lines()
                assert next(lines) == ": keep-alive"
                assert "RunnerReady" not in llama_runner_states(exo_url)  # still loading
                rest = [line for line in lines if line]
            assert any(line.startswith("data: {") for line in rest) and rest[-1] == "data: [DONE]"
            loaded = wait_until(lambda: (j := client.get(f"/api/v1/jobs/{job['id']}/").json())[
                "state"] == "succeeded" and j, timeout=30)
            client.delete(f"/api/v1/instances/{loaded['result']['instance_id']}/")
            wait_until(lambda: not llama_runner_states(exo_url), timeout=30)
    finally:
        httpx.post(f"{exo_url}/_sim/settings", json={"load_time": FAST_LOAD_TIME})
    record = wait_until(lambda: UsageRecord.objects.filter(stream=True).first())
    assert record.status == "ok" and record.completion_tokens == 5


def test_a_stream_exo_closes_unfinished_is_recorded_as_failed_at_exo(live_stack, alice_token,
                                                                     loaded_llama, exo_url):
    """exo ends a cancelled command (or one whose instance went) by closing the stream, with no
    [DONE]: the client's stream ends the same way, and the record says exo ended it."""
    httpx.post(f"{exo_url}/_sim/settings", json={"model_speeds": {LLAMA_1B: 0.5}})
    try:
        with httpx.stream("POST", f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {alice_token}"},
                          json={"model": "llama-3.2-1b", "stream": True, "max_tokens": 30000,
                                "messages": [{"role": "user", "content": "Go on"}]}) as response:
            lines = response.iter_lines()
            first = next(line for line in lines if line.startswith("data: {"))
            command_id = json.loads(first.removeprefix("data: "))["id"]
            assert httpx.post(f"{exo_url}/v1/cancel/{command_id}").status_code == 200
            rest = list(lines)  # ends, without an error, when exo closes it
    finally:
        httpx.post(f"{exo_url}/_sim/settings", json={
            "model_speeds": {LLAMA_1B: GUIDE_SPEEDS[LLAMA_1B][0]}})
    assert "data: [DONE]" not in rest
    record = wait_until(lambda: UsageRecord.objects.filter(stream=True).first(), timeout=30)
    assert (record.status, record.http_status) == ("failed", 200)
    assert record.error == "exo closed the stream before the answer was finished"
