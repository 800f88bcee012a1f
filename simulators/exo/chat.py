"""``POST /v1/chat/completions``: OpenAI chat completions with exo's exact SSE framing.

A stream is ``: keep-alive``, prefill progress comments, one ``data:`` chunk per token (the last
with ``finish_reason`` and ``usage``), a ``generation_stats`` comment and ``data: [DONE]``. A
runner dying mid-answer gives an error chunk then ``[DONE]``; a cancelled command, or one whose
instance is deleted, just stops: no last chunk, no ``[DONE]``. 1.0.71 writes every null field of a
chunk, main none.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from .cluster import Cluster
from .errors import ResponseAborted, check, read_json
from .generation import (
    Failure,
    Finished,
    Generation,
    Generations,
    Prefill,
    Token,
    find_instance,
    generate,
    stats,
    text_of,
    usage,
    with_keepalive,
)
from .wire import Wire

STREAM_HEADERS = {"Cache-Control": "no-cache", "Connection": "close", "X-Accel-Buffering": "no"}
# exo's ChatCompletionRequest fields the simulator uses; it ignores the rest, among them
# max_completion_tokens, as exo does.
REQUEST_FIELDS = {"stream": "bool", "max_tokens": "int", "temperature": "number",
                  "top_p": "number", "seed": "int"}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def chat_request(request: Request, cluster: Cluster) -> tuple[dict[str, Any], Generation]:
    """The validated body and its command, or exo's 422 or 404."""
    body = await read_json(request)
    check(body, required={"model": "str", "messages": "list"},
          optional={**REQUEST_FIELDS, "use_prefix_cache": "bool"})
    instance = find_instance(cluster, body["model"])
    prompt = "\n".join(text_of(m.get("content")) for m in body["messages"] if isinstance(m, dict))
    generation = Generation(cluster=cluster, instance=instance, prompt=prompt,
                            max_tokens=body.get("max_tokens"))
    return body, generation


async def chat_completions(request: Request, cluster: Cluster, registry: Generations
                           ) -> StreamingResponse:
    body, generation = await chat_request(request, cluster)
    # exo answers both ways through a stream, so a closed connection cancels either one.
    if body.get("stream"):
        return stream_response(generation, registry)
    return StreamingResponse(_collect(generation, registry), media_type="application/json")


def stream_response(generation: Generation, registry: Generations) -> StreamingResponse:
    return StreamingResponse(with_keepalive(_stream(generation, registry)),
                             media_type="text/event-stream", headers=STREAM_HEADERS)


def _chunk(generation: Generation, token: Token) -> dict[str, Any]:
    # A thinking token is reasoning_content with no content, as exo's adapter writes it.
    delta = message(None, token.text) if token.thinking else message(token.text)
    return {
        "id": generation.command_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": generation.card.model_id,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None,
                     "usage": None}],
        "usage": None,
        "service_tier": None,
    }


def message(content: str | None, reasoning: str | None = None) -> dict[str, Any]:
    """exo's ChatCompletionMessage from the assistant, every field written."""
    return {"role": "assistant", "content": content, "reasoning_content": reasoning, "name": None,
            "tool_calls": None, "tool_call_id": None, "function_call": None}


async def _stream(generation: Generation, registry: Generations) -> AsyncIterator[str]:
    wire = generation.cluster.wire
    # The last token is held back: it must carry finish_reason and usage.
    held: Token | None = None
    async for event in generate(generation, registry):
        if isinstance(event, Prefill):
            progress = {"PrefillProgressChunk": {
                "model": generation.card.model_id,
                "processed_tokens": event.processed,
                "total_tokens": event.total,
            }}
            yield f": prefill_progress {dumps(progress)}\n\n"
        elif isinstance(event, Token):
            if held is not None:
                yield _data(wire, _chunk(generation, held))
            held = event
        elif isinstance(event, Failure):
            if held is not None:
                yield _data(wire, _chunk(generation, held))
            yield _data(wire, {"error": {"message": event.message, "type": "InternalServerError",
                                         "param": None, "code": 500}})
            yield "data: [DONE]\n\n"
            return
        else:
            last = _chunk(generation, held or Token(""))
            last["choices"][0]["finish_reason"] = event.finish_reason
            last["usage"] = usage(event)
            yield _data(wire, last)
            yield f": generation_stats {dumps(stats(event))}\n\n"
            yield "data: [DONE]\n\n"
            return
    if held is not None:
        # Cancelled or deleted: what was generated went out, then exo closes the stream.
        yield _data(wire, _chunk(generation, held))


def _data(wire: Wire, document: dict[str, Any]) -> str:
    return f"data: {dumps(wire.chat(document))}\n\n"


async def collect(generation: Generation, registry: Generations
                  ) -> tuple[list[Token], Finished | None]:
    """The whole answer's tokens and how it finished (None if the command was closed early); a
    runner failure aborts the response, as the exception exo raises mid-answer does."""
    tokens: list[Token] = []
    async for event in generate(generation, registry):
        if isinstance(event, Token):
            tokens.append(event)
        elif isinstance(event, Failure):
            raise ResponseAborted(event.message)
        elif isinstance(event, Finished):
            return tokens, event
    if not tokens:
        raise ResponseAborted("command closed before its first token")
    return tokens, None


def completion(generation: Generation, tokens: list[Token], finish: Finished | None
               ) -> dict[str, Any]:
    """exo's non-streaming ChatCompletionResponse, every field written: the reasoning tokens
    joined as reasoning_content (null when there are none), the others as content."""
    text = "".join(t.text for t in tokens if not t.thinking)
    thinking = [t.text for t in tokens if t.thinking]
    return {
        "id": generation.command_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": generation.card.model_id,
        "choices": [{"index": 0, "message": message(text, "".join(thinking) if thinking else None),
                     "logprobs": None, "finish_reason": finish.finish_reason if finish else None}],
        "usage": usage(finish) if finish else None,
        "service_tier": None,
    }


async def _collect(generation: Generation, registry: Generations) -> AsyncIterator[str]:
    tokens, finish = await collect(generation, registry)
    yield dumps(generation.cluster.wire.chat(completion(generation, tokens, finish)))
