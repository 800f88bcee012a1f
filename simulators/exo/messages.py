"""``POST /v1/messages``: the Anthropic Messages API (what Claude Code speaks), named SSE events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from .chat import STREAM_HEADERS, dumps
from .cluster import Cluster
from .errors import check, read_json
from .generation import (
    Failure,
    Finished,
    Generation,
    Generations,
    KeepAlive,
    Token,
    find_ready_instance,
    generate,
    text_of,
)


async def create_message(request: Request, cluster: Cluster, registry: Generations
                         ) -> StreamingResponse:
    body = await read_json(request)
    check(
        body,
        required={"model": "str", "max_tokens": "int", "messages": "list"},
        optional={"stream": "bool", "temperature": "number", "top_p": "number"},
    )
    instance = find_ready_instance(cluster, body["model"])
    texts = [text_of(body.get("system"))]
    texts += [text_of(m.get("content")) for m in body["messages"] if isinstance(m, dict)]
    generation = Generation(
        cluster=cluster,
        instance=instance,
        card=cluster.model(instance.model_id),
        prompt="\n".join(t for t in texts if t),
        max_tokens=body["max_tokens"],
    )
    message_id = f"msg_{uuid.uuid4().hex[:24]}"
    if body.get("stream"):
        return StreamingResponse(_stream(generation, registry, message_id),
                                 media_type="text/event-stream", headers=STREAM_HEADERS)
    return StreamingResponse(_collect(generation, registry, message_id),
                             media_type="application/json")


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {dumps(data)}\n\n"


def _stop_reason(finish: Finished) -> str:
    return "max_tokens" if finish.finish_reason == "length" else "end_turn"


def _message(generation: Generation, message_id: str, content: list[dict[str, Any]],
             stop_reason: str | None, output_tokens: int) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": generation.card.model_id,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": generation.prompt_tokens, "output_tokens": output_tokens},
    }


async def _stream(generation: Generation, registry: Generations, message_id: str
                  ) -> AsyncIterator[str]:
    start = _message(generation, message_id, [], None, 0)
    yield _event("message_start", {"type": "message_start", "message": start})
    yield _event("content_block_start", {
        "type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""},
    })
    async for event in generate(generation, registry):
        if isinstance(event, KeepAlive):
            yield _event("ping", {"type": "ping"})  # Anthropic's own keep-alive
        elif isinstance(event, Token):
            yield _event("content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": event.text},
            })
        elif isinstance(event, Failure):
            yield _event("error", {"type": "error",
                                   "error": {"type": "api_error", "message": event.message}})
        elif isinstance(event, Finished):
            yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield _event("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(event), "stop_sequence": None},
                "usage": {"output_tokens": event.completion_tokens},
            })
            yield _event("message_stop", {"type": "message_stop"})


async def _collect(generation: Generation, registry: Generations, message_id: str
                   ) -> AsyncIterator[str]:
    parts: list[str] = []
    async for event in generate(generation, registry):
        if isinstance(event, Token):
            parts.append(event.text)
        elif isinstance(event, Failure):
            yield dumps({"type": "error", "error": {"type": "api_error", "message": event.message}})
        elif isinstance(event, Finished):
            content = [{"type": "text", "text": "".join(parts)}]
            yield dumps(_message(generation, message_id, content, _stop_reason(event),
                                 event.completion_tokens))
