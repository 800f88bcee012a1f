"""POST /v1/chat/completions and /v1/cancel: exo's exact SSE framing, the openai client,
cancellation and failures."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from simulators.exo import generation
from simulators.exo.testing import RunningSim

LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
DEEPSEEK = "mlx-community/DeepSeek-V3.1-4bit"
HELLO: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Write a Python function to parse JSON"},
]


def events(raw: bytes) -> list[str]:
    """SSE events: blocks separated by one blank line, the stream ending with one."""
    text = raw.decode()
    assert text.endswith("\n\n")
    return text[:-2].split("\n\n")


def data_chunks(blocks: list[str]) -> list[dict[str, Any]]:
    return [json.loads(b.removeprefix("data: ")) for b in blocks
            if b.startswith("data: {")]


def post_stream(sim: RunningSim, **fields: Any) -> bytes:
    payload = {"model": LLAMA_1B, "messages": HELLO, "stream": True, **fields}
    response = sim.client.post("/v1/chat/completions", json=payload)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return response.content


def test_stream_framing_is_exactly_exos(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    blocks = events(post_stream(exo_sim, max_tokens=12))
    assert blocks[0] == ": keep-alive"
    assert blocks[1].startswith(": prefill_progress ")
    progress = json.loads(blocks[1].removeprefix(": prefill_progress "))
    assert set(progress) == {"PrefillProgressChunk"}
    assert progress["PrefillProgressChunk"]["model"] == LLAMA_1B
    assert progress["PrefillProgressChunk"]["processed_tokens"] == (
        progress["PrefillProgressChunk"]["total_tokens"])
    assert blocks[-1] == "data: [DONE]"
    assert blocks[-2].startswith(": generation_stats ")
    stats = json.loads(blocks[-2].removeprefix(": generation_stats "))
    assert set(stats) == {"prompt_tps", "generation_tps", "prompt_tokens", "generation_tokens",
                          "peak_memory_usage", "prefix_cache_hit"}
    assert stats["generation_tokens"] == 12 and set(stats["peak_memory_usage"]) == {"in_bytes"}
    chunks = data_chunks(blocks)
    assert len(chunks) == 12
    assert blocks[2:-2] == [f"data: {json.dumps(c, separators=(',', ':'))}" for c in chunks]
    assert len({c["id"] for c in chunks}) == 1
    for chunk in chunks:
        assert chunk["object"] == "chat.completion" and chunk["model"] == LLAMA_1B
        assert chunk["choices"][0]["delta"]["role"] == "assistant"
        assert chunk["choices"][0]["index"] == 0
    for chunk in chunks[:-1]:
        assert "finish_reason" not in chunk["choices"][0] and "usage" not in chunk
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "length"
    assert last["usage"]["completion_tokens"] == 12
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 12
    assert last["usage"]["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert set(last["usage"]["completion_tokens_details"]) == {
        "reasoning_tokens", "audio_tokens", "accepted_prediction_tokens",
        "rejected_prediction_tokens"}


def test_long_prompts_report_prefill_in_steps(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    prompt = [{"role": "user", "content": "word " * 1000}]  # about 1250 tokens
    blocks = events(post_stream(exo_sim, messages=prompt, max_tokens=2))
    progress = [json.loads(b.removeprefix(": prefill_progress "))["PrefillProgressChunk"]
                for b in blocks if b.startswith(": prefill_progress")]
    assert [p["processed_tokens"] for p in progress] == [512, 1024, 1250]
    assert all(p["total_tokens"] == 1250 for p in progress)


def test_keep_alive_repeats_during_a_long_prefill(exo_sim: RunningSim,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generation, "KEEPALIVE_SECONDS", 0.05)
    exo_sim.load(LLAMA_1B)
    exo_sim.client.post("/_sim/settings", json={"speed": 0.2})  # a 0.25 s first token
    blocks = events(post_stream(exo_sim, max_tokens=2))
    prefill_at = next(i for i, b in enumerate(blocks) if b.startswith(": prefill_progress"))
    assert blocks[:prefill_at] == [": keep-alive"] * prefill_at
    assert prefill_at >= 4


def test_text_is_deterministic_and_ends_with_stop(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)

    def text() -> tuple[str, str]:
        chunks = data_chunks(events(post_stream(exo_sim)))
        return ("".join(c["choices"][0]["delta"]["content"] for c in chunks),
                chunks[-1]["choices"][0]["finish_reason"])

    first, reason = text()
    assert first == text()[0]
    assert reason == "stop"
    assert first.startswith("You asked: Write a Python function to parse JSON")
    assert 128 <= len(first.split()) < 384


def test_non_streaming_answers_one_completion(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    response = exo_sim.client.post("/v1/chat/completions", json={
        "model": LLAMA_1B, "messages": HELLO, "max_tokens": 7})
    assert response.status_code == 200
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert len(answer["choices"][0]["message"]["content"].split()) == 7
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 7


def test_unloaded_model_is_404(exo_sim: RunningSim) -> None:
    response = exo_sim.client.post("/v1/chat/completions",
                                   json={"model": LLAMA_1B, "messages": HELLO})
    assert response.status_code == 404
    assert response.json() == {"error": {
        "message": f"No instance found for model {LLAMA_1B}", "type": "Not Found",
        "param": None, "code": 404}}


def test_chat_to_an_instance_still_loading_waits_until_it_is_ready(
    exo_sim: RunningSim, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(generation, "KEEPALIVE_SECONDS", 0.05)
    exo_sim.client.post("/_sim/settings", json={"load_time": 1.0})
    instance = exo_sim.load(LLAMA_1B, wait=False)
    blocks = events(post_stream(exo_sim, max_tokens=3))
    assert exo_sim.ready(instance)
    prefill_at = next(i for i, b in enumerate(blocks) if b.startswith(": prefill_progress"))
    assert blocks[:prefill_at] == [": keep-alive"] * prefill_at and prefill_at >= 4
    assert blocks[-1] == "data: [DONE]" and len(data_chunks(blocks)) == 3


def test_non_streaming_chat_waits_too(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/settings", json={"load_time": 0.5})
    instance = exo_sim.load(LLAMA_1B, wait=False)
    response = exo_sim.client.post("/v1/chat/completions", json={
        "model": LLAMA_1B, "messages": HELLO, "max_tokens": 2})
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == 2
    # Loaded by then: its runners are ready, or still finishing this answer (RunnerRunning
    # turns back to RunnerReady just after the last byte, a race with this check).
    body = next(iter(instance.values()))
    states = {next(iter(exo_sim.state(f"/runners/{runner_id}")))
              for runner_id in body["shardAssignments"]["nodeToRunner"].values()}
    assert states <= {"RunnerReady", "RunnerRunning"}, states


def test_max_completion_tokens_is_ignored_as_exo_ignores_it(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    chunks = data_chunks(events(post_stream(exo_sim, max_completion_tokens=3)))
    assert len(chunks) > 100 and chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_short_ids_are_not_model_ids(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    response = exo_sim.client.post("/v1/chat/completions",
                                   json={"model": "llama-3.2-1b", "messages": HELLO})
    assert response.status_code == 404


@pytest.mark.parametrize("payload, loc", [
    ({"messages": HELLO}, ["body", "model"]),
    ({"model": LLAMA_1B}, ["body", "messages"]),
    ({"model": LLAMA_1B, "messages": HELLO, "max_tokens": "many"}, ["body", "max_tokens"]),
])
def test_bad_bodies_are_422(exo_sim: RunningSim, payload: dict[str, Any], loc: list[str]) -> None:
    response = exo_sim.client.post("/v1/chat/completions", json=payload)
    assert response.status_code == 422
    assert loc in [d["loc"] for d in response.json()["detail"]]


def test_speed_follows_the_model_and_the_multiplier(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    exo_sim.client.post("/_sim/settings", json={"speed": 0.1,
                                                "model_speeds": {LLAMA_1B: 1000}})
    started = time.monotonic()
    blocks = events(post_stream(exo_sim, max_tokens=10))
    elapsed = time.monotonic() - started
    # First token 0.05 s / 0.1 = 0.5 s, then 10 tokens at 1000 x 0.1 = 100 tok/s.
    assert 0.55 <= elapsed < 1.5
    stats = json.loads(blocks[-2].removeprefix(": generation_stats "))
    assert 60 < stats["generation_tps"] < 130


def test_openai_client_streams(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    client = openai.OpenAI(base_url=f"{exo_sim.url}/v1", api_key="unused")
    stream = client.chat.completions.create(model=LLAMA_1B, messages=HELLO,
                                            stream=True, max_tokens=9)
    chunks = list(stream)
    assert len(chunks) == 9
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(text.split()) == 9
    assert chunks[-1].choices[0].finish_reason == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 9
    client.close()


def test_openai_client_non_streaming(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    client = openai.OpenAI(base_url=f"{exo_sim.url}/v1", api_key="unused")
    completion = client.chat.completions.create(model=LLAMA_1B, messages=HELLO,
                                                max_tokens=5)
    assert completion.choices[0].message.content is not None
    assert len(completion.choices[0].message.content.split()) == 5
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    models = [m.id for m in client.models.list()]
    assert LLAMA_1B in models
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=DEEPSEEK, messages=HELLO)
    client.close()


def _start_slow_stream_at(sim: RunningSim) -> tuple[httpx.Response, str]:
    """A stream with its first data chunk read; returns it and its command id."""
    request = sim.client.build_request("POST", "/v1/chat/completions", json={
        "model": LLAMA_1B, "messages": HELLO, "stream": True})
    response = sim.client.send(request, stream=True)
    lines = response.iter_lines()
    command_id = next(json.loads(line[6:])["id"] for line in lines if line.startswith("data: {"))
    response.extensions["lines"] = lines
    return response, command_id


def test_cancel_ends_the_stream_with_nothing_more(exo_sim: RunningSim) -> None:
    sim = exo_sim
    sim.load(LLAMA_1B)
    sim.client.post("/_sim/settings", json={"model_speeds": {LLAMA_1B: 1}})  # 50 tok/s
    response, command_id = _start_slow_stream_at(sim)
    cancel = sim.client.post(f"/v1/cancel/{command_id}")
    assert cancel.status_code == 200
    assert cancel.json() == {"message": "Command cancelled.", "command_id": command_id}
    rest = [line for line in response.extensions["lines"] if line]
    response.close()
    # exo closes the command's stream: no last chunk, no stats, no [DONE].
    assert all(line.startswith("data: {") for line in rest)
    assert all("finish_reason" not in json.loads(line[6:])["choices"][0] for line in rest)
    assert len(rest) < 20
    again = sim.client.post(f"/v1/cancel/{command_id}")
    assert again.status_code == 404
    assert again.json()["error"]["message"] == "Command not found or already completed"


def test_deleting_the_instance_ends_its_streams_with_nothing_more(exo_sim: RunningSim) -> None:
    instance = exo_sim.load(LLAMA_1B)
    exo_sim.client.post("/_sim/settings", json={"model_speeds": {LLAMA_1B: 1}})
    response, _ = _start_slow_stream_at(exo_sim)
    exo_sim.client.delete(f"/instance/{next(iter(instance.values()))['instanceId']}")
    rest = [line for line in response.extensions["lines"] if line]
    response.close()
    assert rest and all(line.startswith("data: {") for line in rest)
    assert "finish_reason" not in json.loads(rest[-1][6:])["choices"][0]


def test_cancel_reaches_a_command_still_waiting(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/settings", json={"load_time": 30})
    exo_sim.load(LLAMA_1B, wait=False)
    request = exo_sim.client.build_request("POST", "/v1/chat/completions", json={
        "model": LLAMA_1B, "messages": HELLO, "stream": True})
    response = exo_sim.client.send(request, stream=True)
    lines = response.iter_lines()
    assert next(lines) == ": keep-alive"
    (command_id,) = exo_sim.wait_for(lambda: list(exo_sim.generations.active))
    assert exo_sim.client.post(f"/v1/cancel/{command_id}").status_code == 200
    assert [line for line in lines if line] == []
    response.close()


def test_closing_the_connection_stops_generation(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    exo_sim.client.post("/_sim/settings", json={"model_speeds": {LLAMA_1B: 1}})
    response, command_id = _start_slow_stream_at(exo_sim)
    assert exo_sim.cluster.instances and any(
        i.generating for i in exo_sim.cluster.instances.values())
    response.close()
    exo_sim.wait_for(lambda: not any(i.generating for i in exo_sim.cluster.instances.values()))
    assert exo_sim.client.post(f"/v1/cancel/{command_id}").status_code == 404


def test_runners_are_running_while_generating(exo_sim: RunningSim) -> None:
    instance = exo_sim.load(LLAMA_1B)
    exo_sim.client.post("/_sim/settings", json={"model_speeds": {LLAMA_1B: 1}})
    (runner_id,) = next(iter(instance.values()))["shardAssignments"]["nodeToRunner"].values()
    response, _ = _start_slow_stream_at(exo_sim)
    assert exo_sim.state(f"/runners/{runner_id}") == {"RunnerRunning": {}}
    response.close()
    exo_sim.wait_for(lambda: exo_sim.state(f"/runners/{runner_id}") == {
        "RunnerReady": {"prefillServerPort": None}})


@pytest.mark.parametrize("version, error", [
    ("main", {"message": "Runner shutdown before completing command "
                         "(signal=11 (Segmentation fault: 11))",
              "type": "InternalServerError", "code": 500}),
    ("1.0.71", {"message": "Runner shutdown before completing command "
                           "(signal=11 (Segmentation fault: 11))",
                "type": "InternalServerError", "param": None, "code": 500}),
])
def test_runner_failure_mid_stream_is_an_error_chunk(
    make_exo_sim: Callable[..., RunningSim], version: str, error: dict[str, Any],
) -> None:
    exo_sim = make_exo_sim(exo_version=version)
    instance = exo_sim.load(LLAMA_1B)
    exo_sim.client.post("/_sim/settings", json={"model_speeds": {LLAMA_1B: 20}})
    (runner_id,) = next(iter(instance.values()))["shardAssignments"]["nodeToRunner"].values()
    response, _ = _start_slow_stream_at(exo_sim)
    assert response.status_code == 200
    exo_sim.client.post(f"/_sim/runners/{runner_id}/fail")
    rest = [line for line in response.extensions["lines"] if line]
    response.close()
    assert rest[-1] == "data: [DONE]"
    assert json.loads(rest[-2].removeprefix("data: ")) == {"error": error}


def test_runner_failure_aborts_a_non_streaming_answer(exo_sim: RunningSim) -> None:
    instance = exo_sim.load(LLAMA_1B)
    exo_sim.client.post("/_sim/settings", json={"model_speeds": {LLAMA_1B: 1}})
    (runner_id,) = next(iter(instance.values()))["shardAssignments"]["nodeToRunner"].values()
    failing = threading.Timer(0.3, lambda: exo_sim.client.post(f"/_sim/runners/{runner_id}/fail"))
    failing.start()
    # exo raises inside the answer it has begun: the connection closes mid-body.
    with pytest.raises(httpx.RemoteProtocolError):
        exo_sim.client.post("/v1/chat/completions", json={"model": LLAMA_1B, "messages": HELLO})
    failing.join()


def test_concurrent_streams_each_finish(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    results: list[int] = []

    def one() -> None:
        with httpx.Client(base_url=exo_sim.url) as client:
            raw = client.post("/v1/chat/completions", json={
                "model": LLAMA_1B, "messages": HELLO, "stream": True, "max_tokens": 20}).content
            results.append(len(data_chunks(events(raw))))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [20, 20, 20, 20]


def test_answer_length_setting_runs_answers_to_max_tokens(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    natural = len(data_chunks(events(post_stream(exo_sim, max_tokens=2000))))
    assert natural < 400  # each prompt's own length: 128 to 383 tokens
    exo_sim.client.post("/_sim/settings", json={"answer_tokens": 1000}).raise_for_status()
    try:
        assert len(data_chunks(events(post_stream(exo_sim, max_tokens=600)))) == 600
        assert len(data_chunks(events(post_stream(exo_sim)))) == 1000
    finally:
        exo_sim.client.post("/_sim/settings", json={"answer_tokens": 0}).raise_for_status()
    assert len(data_chunks(events(post_stream(exo_sim, max_tokens=2000)))) == natural
