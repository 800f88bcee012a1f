"""Text generation shared by the chat and messages APIs: deterministic filler at the model's
speed, with prefill first, cancellation, and a mid-stream error if a runner dies."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from . import runners
from .catalogue import ModelCard
from .cluster import Cluster, Instance
from .errors import ApiError

PREFILL_STEP = 512  # exo reports prefill progress in batches of tokens
KEEPALIVE_SECONDS = 10.0  # exo repeats its keep-alive comment after this much silence
VOCABULARY = (
    "the", "cluster", "answers", "with", "simulated", "tokens", "while", "exo", "keeps",
    "every", "runner", "busy", "and", "the", "thunderbolt", "link", "carries", "tensors",
    "between", "ranks", "so", "this", "reply", "is", "filler", "text", "derived", "from",
    "your", "prompt", "deterministic", "and", "repeatable", "for", "tests", "dashboards", "and",
    "demos", "alike",
)


@dataclass
class KeepAlive:
    pass


@dataclass
class Prefill:
    processed: int
    total: int


@dataclass
class Token:
    text: str


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


Event = KeepAlive | Prefill | Token | Failure | Finished


@dataclass
class Generation:
    cluster: Cluster
    instance: Instance
    card: ModelCard
    prompt: str
    max_tokens: int | None
    command_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def prompt_tokens(self) -> int:
        # About four characters a token, as for English text with a BPE tokenizer.
        return max(1, len(self.prompt) // 4)

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


class Generations:
    """Running generations by command id, so /v1/cancel can stop them."""

    def __init__(self) -> None:
        self.active: dict[str, Generation] = {}

    def cancel(self, command_id: str) -> bool:
        generation = self.active.get(command_id)
        if generation is None:
            return False
        generation.cancelled.set()
        return True


def find_ready_instance(cluster: Cluster, model_id: str) -> Instance:
    """The model must be served by an instance whose runners are all ready, else exo's 404."""
    for instance in cluster.instances.values():
        if instance.model_id == model_id and runners.is_ready(instance, time.monotonic()):
            return instance
    raise ApiError(404, f"No instance found for model {model_id}")


async def generate(generation: Generation, registry: Generations) -> AsyncIterator[Event]:
    """Yield prefill progress, tokens, then Finished (or Failure); stops early on cancel."""
    cluster, instance, card = generation.cluster, generation.instance, generation.card
    registry.active[generation.command_id] = generation
    instance.generating += 1
    node = cluster.node_by_id(next(iter(instance.node_to_runner)))
    try:
        if node is not None:
            cluster.log(node, "api", f"Text generation {generation.command_id} for {card.model_id}:"
                        f" {generation.prompt_tokens} prompt tokens")
        started = time.monotonic()
        first_token = card.first_token_seconds / cluster.speed
        total = generation.prompt_tokens
        steps = [*range(min(PREFILL_STEP, total), total, PREFILL_STEP), total]
        for processed in steps:
            wait = first_token / len(steps)
            while wait > KEEPALIVE_SECONDS:
                await asyncio.sleep(KEEPALIVE_SECONDS)
                wait -= KEEPALIVE_SECONDS
                yield KeepAlive()
            await asyncio.sleep(wait)
            yield Prefill(processed, total)
        prefill_seconds = max(time.monotonic() - started, 1e-6)
        words = generation.words()
        rate = cluster.tokens_per_second(card)
        decode_start = time.monotonic()
        produced = 0
        for word in words:
            if generation.cancelled.is_set():
                # A cancelled command ends like a finished one, with what it produced so far.
                break
            if instance.failed or instance.instance_id not in cluster.instances:
                yield Failure(next(iter(instance.failed.values()), "Instance was deleted"))
                return
            ahead = decode_start + (produced + 1) / rate - time.monotonic()
            # Sleep only when ahead by a few ms: thousands of tiny sleeps would run slow.
            await asyncio.sleep(ahead if ahead > 0.003 else 0)
            yield Token(word)
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
    finally:
        instance.generating -= 1
        registry.active.pop(generation.command_id, None)


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
