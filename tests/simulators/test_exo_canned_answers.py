"""The simulator's canned answer and reasoning texts (/_sim/settings answer_text and
reasoning_text): streamed as exo streams a thinking model, reasoning_content deltas first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from simulators.exo.generation import split_tokens
from simulators.exo.testing import RunningSim
from tests.simulators.test_exo_chat import LLAMA_1B, data_chunks, events, post_stream

ANSWER = "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('hi')\n```\n"
REASONING = "The user wants a table.\nI will write one."


@pytest.mark.parametrize("text", [ANSWER, REASONING, "  leading and trailing  \n\n", "", "x"])
def test_split_tokens_give_the_text_back_exactly(text: str) -> None:
    tokens = split_tokens(text)
    assert "".join(tokens) == text
    assert all(t.strip() for t in tokens[:-1])  # each token holds a word, but a trailing space


def test_split_tokens_are_one_word_each() -> None:
    assert split_tokens("a b\n\nc") == ["a", " b", "\n\nc"]


def canned(sim: RunningSim, **settings: str) -> None:
    sim.client.post("/_sim/settings", json=settings).raise_for_status()


@pytest.mark.parametrize("version", ["main", "1.0.71"])
def test_reasoning_streams_as_reasoning_content_then_the_answer(
    make_exo_sim: Callable[..., RunningSim], version: str,
) -> None:
    sim = make_exo_sim(exo_version=version)
    sim.load(LLAMA_1B)
    canned(sim, answer_text=ANSWER, reasoning_text=REASONING)
    chunks = data_chunks(events(post_stream(sim)))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    thinking = [d for d in deltas if d.get("reasoning_content")]
    answer = deltas[len(thinking):]
    assert "".join(d["reasoning_content"] for d in thinking) == REASONING
    assert "".join(d["content"] for d in answer) == ANSWER
    assert all(d.get("reasoning_content") is None for d in answer)
    assert all(d["role"] == "assistant" for d in deltas)
    if version == "main":  # main drops null fields; 1.0.71 writes content: null
        assert all("content" not in d for d in thinking)
    else:
        assert all(d["content"] is None for d in thinking)
    assert chunks[-1]["usage"]["completion_tokens"] == len(chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_caps_reasoning_and_answer_together(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    canned(exo_sim, answer_text=ANSWER, reasoning_text=REASONING)
    chunks = data_chunks(events(post_stream(exo_sim, max_tokens=len(split_tokens(REASONING)))))
    assert all("reasoning_content" in c["choices"][0]["delta"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_non_streaming_answer_carries_reasoning_content(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    canned(exo_sim, answer_text=ANSWER, reasoning_text=REASONING)
    body: dict[str, Any] = exo_sim.client.post("/v1/chat/completions", json={
        "model": LLAMA_1B, "messages": [{"role": "user", "content": "hi"}]}).json()
    message = body["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == (ANSWER, REASONING)


def test_settings_show_the_texts_and_empty_ones_bring_the_filler_back(
        exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_1B)
    canned(exo_sim, answer_text=ANSWER)
    settings = exo_sim.client.get("/_sim/settings").json()
    assert (settings["answer_text"], settings["reasoning_text"]) == (ANSWER, "")
    plain = data_chunks(events(post_stream(exo_sim)))
    assert all("reasoning_content" not in c["choices"][0]["delta"] for c in plain)  # none set
    canned(exo_sim, answer_text="")
    text = "".join(c["choices"][0]["delta"]["content"] for c in data_chunks(events(
        post_stream(exo_sim))))
    assert text.startswith("You asked:")
    body: dict[str, Any] = exo_sim.client.post("/v1/chat/completions", json={
        "model": LLAMA_1B, "messages": [{"role": "user", "content": "hi"}]}).json()
    assert body["choices"][0]["message"].get("reasoning_content") is None


def test_a_text_that_is_not_a_string_is_422(exo_sim: RunningSim) -> None:
    response = exo_sim.client.post("/_sim/settings", json={"answer_text": 3})
    assert response.status_code == 422
