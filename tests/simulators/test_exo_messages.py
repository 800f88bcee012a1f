"""POST /v1/messages: the Anthropic Messages API, raw events and the anthropic client."""

from __future__ import annotations

import json
import threading
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam

from simulators.exo import generation
from simulators.exo.testing import RunningSim

LLAMA_8B = "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"
ASK: list[MessageParam] = [{"role": "user", "content": "Review this function"}]


def named_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The named events, after the keep-alive comments exo's SSE wrapper sends."""
    text = raw.decode()
    assert text.startswith(": keep-alive\n\n") and text.endswith("\n\n")
    result = []
    for block in text[:-2].split("\n\n"):
        if block == ": keep-alive":
            continue
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        result.append((event_line[7:], json.loads(data_line[6:])))
    return result


def test_stream_has_anthropics_named_events(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_8B)
    response = exo_sim.client.post("/v1/messages", json={
        "model": LLAMA_8B, "max_tokens": 6, "messages": ASK, "stream": True})
    assert response.status_code == 200
    events = named_events(response.content)
    names = [name for name, _ in events]
    assert names == ["message_start", "content_block_start"] + ["content_block_delta"] * 6 + [
        "content_block_stop", "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["role"] == "assistant" and start["model"] == LLAMA_8B
    assert start["content"] == [] and start["id"].startswith("msg_")
    assert start["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    assert all(data["delta"]["type"] == "text_delta" for name, data in events
               if name == "content_block_delta")
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert delta["usage"] == {"output_tokens": 6}


def test_long_prefill_sends_keep_alive_comments(exo_sim: RunningSim,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generation, "KEEPALIVE_SECONDS", 0.05)
    exo_sim.load(LLAMA_8B)
    exo_sim.client.post("/_sim/settings", json={"speed": 1.0})  # a 0.2 s first token
    response = exo_sim.client.post("/v1/messages", json={
        "model": LLAMA_8B, "max_tokens": 1, "messages": ASK, "stream": True})
    blocks = response.text.split("\n\n")
    assert blocks[0] == ": keep-alive" and blocks[1].startswith("event: message_start")
    assert blocks[2:5] == [": keep-alive"] * 3


def start_slow_stream(sim: RunningSim) -> tuple[Any, Any]:
    """A slow stream with its first text delta read; returns the response and its lines."""
    sim.client.post("/_sim/settings", json={"model_speeds": {LLAMA_8B: 1}})
    request = sim.client.build_request("POST", "/v1/messages", json={
        "model": LLAMA_8B, "max_tokens": 500, "messages": ASK, "stream": True})
    response = sim.client.send(request, stream=True)
    lines = response.iter_lines()
    next(line for line in lines if line == "event: content_block_delta")
    return response, lines


def test_a_stream_whose_runner_dies_is_closed_without_an_error_event(
    exo_sim: RunningSim,
) -> None:
    instance = exo_sim.load(LLAMA_8B)
    (runner_id,) = next(iter(instance.values()))["shardAssignments"]["nodeToRunner"].values()
    response, lines = start_slow_stream(exo_sim)
    exo_sim.client.post(f"/_sim/runners/{runner_id}/fail")
    rest = [line for line in lines if line]
    response.close()
    names = [line[7:] for line in rest if line.startswith("event: ")]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "error" not in names
    delta = json.loads(next(line[6:] for line in rest if '"message_delta"' in line))
    assert delta["delta"] == {"stop_reason": None, "stop_sequence": None}


def test_a_cancelled_stream_still_closes_its_message(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_8B)
    response, lines = start_slow_stream(exo_sim)
    (command_id,) = list(exo_sim.generations.active)
    exo_sim.client.post(f"/v1/cancel/{command_id}")
    names = [line[7:] for line in lines if line.startswith("event: ")]
    response.close()
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_a_failure_aborts_a_non_streaming_message(exo_sim: RunningSim) -> None:
    instance = exo_sim.load(LLAMA_8B)
    exo_sim.client.post("/_sim/settings", json={"model_speeds": {LLAMA_8B: 1}})
    (runner_id,) = next(iter(instance.values()))["shardAssignments"]["nodeToRunner"].values()
    failing = threading.Timer(0.3, lambda: exo_sim.client.post(f"/_sim/runners/{runner_id}/fail"))
    failing.start()
    with pytest.raises(httpx.RemoteProtocolError):
        exo_sim.client.post("/v1/messages", json={"model": LLAMA_8B, "max_tokens": 500,
                                                  "messages": ASK})
    failing.join()


def test_non_streaming_is_one_message(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_8B)
    response = exo_sim.client.post("/v1/messages", json={
        "model": LLAMA_8B, "max_tokens": 4000, "messages": ASK,
        "system": "You are terse."})
    message = response.json()
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["stop_reason"] == "end_turn"
    ((block),) = message["content"]
    assert block["type"] == "text" and block["text"].startswith("You asked: You are terse.")
    assert message["usage"]["output_tokens"] == len(block["text"].split())


def test_anthropic_client_streams(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_8B)
    client = anthropic.Anthropic(base_url=exo_sim.url, api_key="unused")
    with client.messages.stream(model=LLAMA_8B, max_tokens=8,
                                messages=ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert len(text.split()) == 8
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 8
    client.close()


def test_anthropic_client_non_streaming(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_8B)
    client = anthropic.Anthropic(base_url=exo_sim.url, api_key="unused")
    message = client.messages.create(model=LLAMA_8B, max_tokens=3,
                                     messages=ASK)
    assert message.content[0].type == "text"
    assert len(message.content[0].text.split()) == 3
    assert message.usage.output_tokens == 3
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="mlx-community/DeepSeek-V3.1-4bit", max_tokens=3,
                               messages=ASK)
    client.close()


def test_max_tokens_is_required(exo_sim: RunningSim) -> None:
    response = exo_sim.client.post("/v1/messages", json={"model": LLAMA_8B, "messages": ASK})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "max_tokens"]
