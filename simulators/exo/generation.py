"""Text generation shared by the chat, messages and bench APIs: deterministic filler at the
model's speed. As in exo, a command waits until its instance's runners are ready, prefills,
then yields tokens; it ends early and silently when cancelled or when its instance is deleted,
and with a failure when a runner dies under it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from . import lifecycle
from .catalogue import ModelCard
from .cluster import Cluster, Instance
from .errors import ApiError

PREFILL_STEP = 512  # exo reports prefill progress in batches of tokens
KEEPALIVE_SECONDS = 10.0  # exo repeats its keep-alive comment after this much silence
KEEPALIVE = ": keep-alive\n\n"
WAIT_STEP = 0.02  # how often a waiting command looks at its instance again
VOCABULARY = (
    "the", "cluster", "answers", "with", "simulated", "tokens", "while", "exo", "keeps",
    "every", "runner", "busy", "and", "the", "thunderbolt", "link", "carries", "tensors",
    "between", "ranks", "so", "this", "reply", "is", "filler", "text", "derived", "from",
    "your", "prompt", "deterministic", "and", "repeatable", "for", "tests", "dashboards", "and",
    "demos", "alike",
)


@dataclass
class Prefill:
    processed: int
    total: int


@dataclass
class Token:
    text: str
    thinking: bool = False  # a reasoning token, which exo streams as reasoning_content


@dataclass
class Failure:
    message: str


@dataclass
class Finished:
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    prompt_tps: float
    generation_tps: float
    peak_memory: int


Event = Prefill | Token | Failure | Finished


@dataclass
class Generation:
    cluster: Cluster
    instance: Instance
    prompt: str
    max_tokens: int | None
    command_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def card(self) -> ModelCard:
        return self.instance.card

    @property
    def prompt_tokens(self) -> int:
        # About four characters a token, as for English text with a BPE tokenizer.
        return max(1, len(self.prompt) // 4)

    def tokens(self) -> list[Token]:
        """The reasoning text's tokens, then the answer's, all within max_tokens."""
        thinking = [Token(t, thinking=True) for t in split_tokens(self.cluster.reasoning_text)]
        answer = split_tokens(self.cluster.answer_text) or self.words()
        tokens = thinking + [Token(t) for t in answer]
        return tokens if self.max_tokens is None else tokens[:max(0, self.max_tokens)]

    def words(self) -> list[str]:
        """Deterministic tokens: an echo of the prompt, then words picked by its hash."""
        digest = hashlib.sha256(f"{self.card.model_id}\n{self.prompt}".encode()).digest()
        natural = self.cluster.answer_tokens or 128 + int.from_bytes(digest[:2], "big") % 256
        limit = natural if self.max_tokens is None else max(0, min(natural, self.max_tokens))
        echo = self.prompt.split()[:8]
        words = ["You", "asked:", *echo, "—"] if echo else []
        index = 2
        while len(words) < limit:
            words.append(VOCABULARY[digest[index % len(digest)] % len(VOCABULARY)])
            index += 1
        words = words[:limit]
        return [w if i == 0 else f" {w}" for i, w in enumerate(words)]

    @property
    def gone(self) -> bool:
        """Cancelled, or its instance deleted: exo closes the command's stream."""
        return self.cancelled.is_set() or (
            self.instance.instance_id not in self.cluster.instances)


def split_tokens(text: str) -> list[str]:
    """Text as tokens of one word each with the whitespace before it, so that joined they give
    the text back exactly (Markdown needs its newlines)."""
    return re.findall(r"\s*\S+|\s+$", text)


class Generations:
    """Commands by id, from the request until they end, so /v1/cancel can stop them."""

    def __init__(self) -> None:
        self.active: dict[str, Generation] = {}

    def cancel(self, command_id: str) -> bool:
        generation = self.active.get(command_id)
        if generation is None:
            return False
        generation.cancelled.set()
        return True


def find_instance(cluster: Cluster, model_id: str) -> Instance:
    """An instance of the model, ready ones first; exo's 404 only when there is none."""
    candidates = [i for i in cluster.instances.values() if i.model_id == model_id]
    if not candidates:
        raise ApiError(404, f"No instance found for model {model_id}")
    return next((i for i in candidates if i.ready), candidates[0])


async def generate(generation: Generation, registry: Generations) -> AsyncIterator[Event]:
    """Wait for ready runners, then yield prefill progress, tokens and Finished; a dead runner
    gives a Failure; cancellation or deletion just ends it."""
    cluster, instance = generation.cluster, generation.instance
    registry.active[generation.command_id] = generation
    try:
        while not instance.ready:
            if generation.gone:
                return
            await asyncio.sleep(WAIT_STEP)
        instance.generating += 1
        try:
            async for event in _run(generation):
                yield event
        finally:
            instance.generating -= 1
            cluster.touch()
    finally:
        registry.active.pop(generation.command_id, None)


async def _run(generation: Generation) -> AsyncIterator[Event]:
    cluster, instance, card = generation.cluster, generation.instance, generation.card
    node = cluster.node_by_id(next(iter(instance.node_to_runner)))
    if node is not None:
        cluster.log(node, "api", f"Text generation {generation.command_id} for {card.model_id}:"
                    f" {generation.prompt_tokens} prompt tokens")
    started = time.monotonic()
    total = generation.prompt_tokens
    steps = [*range(min(PREFILL_STEP, total), total, PREFILL_STEP), total]
    prefill = cluster.prefill_seconds(instance, total)
    for processed in steps:
        await asyncio.sleep(prefill / len(steps))
        if (failure := _trouble(generation)) is not None:
            yield failure
            return
        if generation.gone:
            return
        yield Prefill(processed, total)
    prefill_seconds = max(time.monotonic() - started, 1e-6)
    rate = cluster.generation_rate(instance)
    decode_start = time.monotonic()
    produced = 0
    for token in generation.tokens():
        ahead = decode_start + (produced + 1) / rate - time.monotonic()
        # Sleep only when ahead by a few ms: thousands of tiny sleeps would run slow.
        await asyncio.sleep(ahead if ahead > 0.003 else 0)
        if (failure := _trouble(generation)) is not None:
            yield failure
            return
        if generation.gone:
            return
        yield token
        produced += 1
    decode_seconds = max(time.monotonic() - decode_start, 1e-6)
    truncated = generation.max_tokens is not None and produced == generation.max_tokens
    finish = Finished(
        finish_reason="length" if truncated else "stop",
        prompt_tokens=total,
        completion_tokens=produced,
        prompt_tps=round(total / prefill_seconds, 1),
        generation_tps=round(produced / decode_seconds, 1),
        peak_memory=card.storage_bytes // len(instance.node_to_runner),
    )
    if node is not None:
        cluster.log(node, "generate", f"Generated {finish.completion_tokens} tokens at "
                    f"{finish.generation_tps} tok/s")
    yield finish


def _trouble(generation: Generation) -> Failure | None:
    failed = generation.instance.failed
    return Failure(lifecycle.cause_of(failed)) if failed is not None else None


async def with_keepalive(source: AsyncIterator[str]) -> AsyncIterator[str]:
    """exo's SSE wrapper: a keep-alive comment first and after every quiet spell."""
    yield KEEPALIVE
    pending: asyncio.Future[str] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield KEEPALIVE
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        closer: Callable[[], Any] | None = getattr(source, "aclose", None)
        if closer is not None:
            await closer()


def usage(finish: Finished) -> dict[str, Any]:
    """OpenAI's usage object, with exo's zeroed detail blocks."""
    return {
        "prompt_tokens": finish.prompt_tokens,
        "completion_tokens": finish.completion_tokens,
        "total_tokens": finish.prompt_tokens + finish.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
        },
    }


def stats(finish: Finished) -> dict[str, Any]:
    """exo's GenerationStats, as its SSE comment and bench answer write them."""
    return {
        "prompt_tps": finish.prompt_tps,
        "generation_tps": finish.generation_tps,
        "prompt_tokens": finish.prompt_tokens,
        "generation_tokens": finish.completion_tokens,
        "peak_memory_usage": {"in_bytes": finish.peak_memory},
        "prefix_cache_hit": "none",
    }


def text_of(content: Any) -> str:
    """Message content as plain text: a string, or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""
