"""``POST /v1/chat/completions``: OpenAI chat completions with exo's exact SSE framing."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from .cluster import Cluster
from .errors import check, error_body, read_json
from .generation import (
    Failure,
    Finished,
    Generation,
    Generations,
    KeepAlive,
    Prefill,
    Token,
    find_ready_instance,
    generate,
    text_of,
    usage,
)

STREAM_HEADERS = {"Cache-Control": "no-cache", "Connection": "close", "X-Accel-Buffering": "no"}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def chat_completions(request: Request, cluster: Cluster, registry: Generations
                           ) -> StreamingResponse:
    body = await read_json(request)
    check(
        body,
        required={"model": "str", "messages": "list"},
        optional={"stream": "bool", "max_tokens": "int", "max_completion_tokens": "int",
                  "temperature": "number", "top_p": "number", "seed": "int"},
    )
    instance = find_ready_instance(cluster, body["model"])
    prompt = "\n".join(text_of(m.get("content")) for m in body["messages"] if isinstance(m, dict))
    generation = Generation(
        cluster=cluster,
        instance=instance,
        card=cluster.model(instance.model_id),
        prompt=prompt,
        max_tokens=body.get("max_tokens", body.get("max_completion_tokens")),
    )
    # exo answers both ways through a stream, so a closed connection cancels either one.
    if body.get("stream"):
        return StreamingResponse(_stream(generation, registry), media_type="text/event-stream",
                                 headers=STREAM_HEADERS)
    return StreamingResponse(_collect(generation, registry), media_type="application/json")


def _chunk(generation: Generation, text: str) -> dict[str, Any]:
    return {
        "id": generation.command_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": generation.card.model_id,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}],
    }


async def _stream(generation: Generation, registry: Generations) -> AsyncIterator[str]:
    yield ": keep-alive\n\n"
    # The last token is held back: it must carry finish_reason and usage.
    held: str | None = None
    async for event in generate(generation, registry):
        if isinstance(event, KeepAlive):
            yield ": keep-alive\n\n"
        elif isinstance(event, Prefill):
            progress = {"PrefillProgressChunk": {
                "model": generation.card.model_id,
                "processed_tokens": event.processed,
                "total_tokens": event.total,
            }}
            yield f": prefill_progress {dumps(progress)}\n\n"
        elif isinstance(event, Token):
            if held is not None:
                yield f"data: {dumps(_chunk(generation, held))}\n\n"
            held = event.text
        elif isinstance(event, Failure):
            if held is not None:
                yield f"data: {dumps(_chunk(generation, held))}\n\n"
            yield f"data: {dumps(_stream_error(event.message))}\n\n"
        elif isinstance(event, Finished):
            last = _chunk(generation, held or "")
            last["choices"][0]["finish_reason"] = event.finish_reason
            last["usage"] = usage(event)
            yield f"data: {dumps(last)}\n\n"
            yield f": generation_stats {dumps(_stats(event))}\n\n"
    yield "data: [DONE]\n\n"


def _stream_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "InternalServerError", "code": 500}}


def _stats(finish: Finished) -> dict[str, Any]:
    return {
        "prompt_tps": finish.prompt_tps,
        "generation_tps": finish.generation_tps,
        "prompt_tokens": finish.prompt_tokens,
        "generation_tokens": finish.completion_tokens,
        "peak_memory_usage": {"in_bytes": finish.peak_memory},
        "prefix_cache_hit": "none",
    }


async def _collect(generation: Generation, registry: Generations) -> AsyncIterator[str]:
    parts: list[str] = []
    async for event in generate(generation, registry):
        if isinstance(event, Token):
            parts.append(event.text)
        elif isinstance(event, Failure):
            yield dumps(error_body(500, event.message))
        elif isinstance(event, Finished):
            yield dumps({
                "id": generation.command_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": generation.card.model_id,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(parts)},
                    "finish_reason": event.finish_reason,
                }],
                "usage": usage(event),
            })
