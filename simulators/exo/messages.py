"""``POST /v1/messages``: the Anthropic Messages API (what Claude Code speaks), as exo's adapter
writes it: named SSE events after a ``: keep-alive`` comment, the text block opened at the first
token. However a stream ends (finished, cancelled, instance deleted or a runner dead) exo closes
the open block and sends ``message_delta`` and ``message_stop``, with a null stop reason when the
answer did not finish; there is no error event. A non-streaming answer that fails is aborted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from .chat import STREAM_HEADERS, dumps
from .cluster import Cluster
from .errors import ResponseAborted, check, read_json
from .generation import (
    Failure,
    Finished,
    Generation,
    Generations,
    Token,
    find_instance,
    generate,
    text_of,
    with_keepalive,
)

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


async def create_message(request: Request, cluster: Cluster, registry: Generations
                         ) -> StreamingResponse:
    body = await read_json(request)
    check(
        body,
        required={"model": "str", "max_tokens": "int", "messages": "list"},
        optional={"stream": "bool", "temperature": "number", "top_p": "number"},
    )
    instance = find_instance(cluster, body["model"])
    texts = [text_of(body.get("system"))]
    texts += [text_of(m.get("content")) for m in body["messages"] if isinstance(m, dict)]
    generation = Generation(cluster=cluster, instance=instance,
                            prompt="\n".join(t for t in texts if t), max_tokens=body["max_tokens"])
    model = str(body["model"])
    if body.get("stream"):
        return StreamingResponse(with_keepalive(_stream(generation, registry, model)),
                                 media_type="text/event-stream", headers=STREAM_HEADERS)
    return StreamingResponse(_collect(generation, registry, model),
                             media_type="application/json")


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {dumps(data)}\n\n"


def _message(message_id: str, model: str, content: list[dict[str, Any]], stop_reason: str | None,
             input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": model,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


async def _stream(generation: Generation, registry: Generations, model: str
                  ) -> AsyncIterator[str]:
    message_id = f"msg_{generation.command_id}"
    start = _message(message_id, model, [], None, 0, 0)
    yield _event("message_start", {"type": "message_start", "message": start})
    started = False
    output_tokens = 0
    stop_reason: str | None = None
    async for event in generate(generation, registry):
        if isinstance(event, Failure):
            break
        if isinstance(event, Finished):
            stop_reason = STOP_REASONS[event.finish_reason]
            output_tokens = event.completion_tokens
        elif isinstance(event, Token):
            if not started:
                started = True
                yield _event("content_block_start", {
                    "type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}})
            output_tokens += 1
            yield _event("content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": event.text}})
    if not started:
        # No token at all: exo still sends one empty text block.
        yield _event("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}})
    yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield _event("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens},
    })
    yield _event("message_stop", {"type": "message_stop"})


async def _collect(generation: Generation, registry: Generations, model: str
                   ) -> AsyncIterator[str]:
    parts: list[str] = []
    finish: Finished | None = None
    async for event in generate(generation, registry):
        if isinstance(event, Failure):
            raise ResponseAborted(event.message)
        if isinstance(event, Token):
            parts.append(event.text)
        elif isinstance(event, Finished):
            finish = event
    # Closed early, exo still answers: the text so far, no stop reason, no usage.
    content = [{"type": "text", "text": "".join(parts)}]
    yield dumps(_message(
        f"msg_{generation.command_id}", model, content,
        STOP_REASONS[finish.finish_reason] if finish else None,
        finish.prompt_tokens if finish else 0, finish.completion_tokens if finish else 0))
