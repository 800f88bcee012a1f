"""Measuring a proxied generation as its stream goes by: first token, speed, token counts.

Pure: bytes and times in, figures out. Works for OpenAI chunks (`usage` on the last one) and
Anthropic events (`message_start` input tokens, `message_delta` output tokens).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TAIL_BYTES = 64 * 1024


@dataclass
class StreamMeter:
    started: float
    first_token_at: float | None = None
    finished_at: float | None = None
    chunks: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    _pending: bytes = field(default=b"", repr=False)

    def feed(self, data: bytes, now: float) -> None:
        """Take the next bytes of the stream, received at `now`."""
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()[-TAIL_BYTES:]  # an unfinished line waits for the rest
        for line in lines:
            self._line(line.strip(), now)
        self.finished_at = now

    def _line(self, line: bytes, now: float) -> None:
        if not line.startswith(b"data:"):
            return
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return
        try:
            event = json.loads(payload)
        except ValueError:
            return
        if isinstance(event, dict):
            self._event(event, now)

    def _event(self, event: dict[str, Any], now: float) -> None:
        if isinstance(event.get("error"), dict):
            self.error = str(event["error"].get("message", "error"))[:500]
        if _has_text(event):
            self.chunks += 1
            if self.first_token_at is None:
                self.first_token_at = now
        take_usage(self, event)

    @property
    def first_token_ms(self) -> int | None:
        if self.first_token_at is None:
            return None
        return round((self.first_token_at - self.started) * 1000)

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens over the time from the first token to the last byte."""
        tokens = self.completion_tokens or self.chunks
        if self.first_token_at is None or self.finished_at is None or tokens < 2:
            return None
        elapsed = self.finished_at - self.first_token_at
        return round((tokens - 1) / elapsed, 1) if elapsed > 0 else None


def _has_text(event: dict[str, Any]) -> bool:
    for choice in event.get("choices") or []:
        delta = choice.get("delta") or choice.get("message") or {}
        if delta.get("content") or delta.get("reasoning_content"):
            return True
    delta = event.get("delta") or {}
    return event.get("type") == "content_block_delta" and bool(delta.get("text"))


def take_usage(meter: StreamMeter, event: dict[str, Any]) -> None:
    """Copy token counts from an OpenAI or Anthropic body or event into `meter`."""
    usage = event.get("usage") or (event.get("message") or {}).get("usage") or {}
    if not isinstance(usage, dict):
        return
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    if isinstance(prompt, int):
        meter.prompt_tokens = prompt
    if isinstance(completion, int):
        meter.completion_tokens = completion
