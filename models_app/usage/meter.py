"""Measuring a proxied generation as its stream goes by: first token, speed, token counts, and
how it ended.

Pure: bytes and times in, figures out. Works for OpenAI chunks (`usage` on the last one) and
Anthropic events (`message_start` input tokens, `message_delta` output tokens). exo ends a
finished answer with `data: [DONE]` (chat) or a `message_delta` with its `stop_reason`
(messages); a stream it cancels, or whose instance goes, it just closes. Its speed is the one
exo measured itself when exo says (its `: generation_stats` comment): the proxy passes a fast
answer on in batches, so its own clock sees when a batch arrived, not each token.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

TAIL_BYTES = 64 * 1024
# A chunk that only carries more text, as exo writes them (compact JSON): some text under one of
# these keys, and none of the keys that need reading. (Inside a JSON string every quote is
# escaped, so the keys cannot be part of the text.)
_PLAIN_TEXT = re.compile(
    rb'^data: ?(?!.*(?:"usage"|"error"|"stop_reason"|"content_block_start"))'
    rb'.*"(?:content|reasoning_content|text)":"[^"]', re.MULTILINE)
_STATS = b": generation_stats "  # exo's comment with its own figures, after the last chunk
# How a proxied request ended, for its usage record: answered; failed at exo (an error chunk,
# or the answer broken off); cancelled by its client; refused (by the panel or by exo).
OK, FAILED, CANCELLED, ERROR = "ok", "failed", "cancelled", "error"


@dataclass
class StreamMeter:
    started: float
    first_token_at: float | None = None
    finished_at: float | None = None
    chunks: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    finished: bool = False  # the answer came to its end, as exo marks one
    exo_tokens_per_second: float | None = None  # exo's own figure, if it sent one
    _pending: bytes = field(default=b"", repr=False)

    def feed(self, data: bytes, now: float) -> None:
        """Take the next bytes of the stream, received at `now`."""
        text = self._pending + data
        end = text.rfind(b"\n") + 1
        lines, self._pending = text[:end], text[end:][-TAIL_BYTES:]  # an unfinished line waits
        plain = len(_PLAIN_TEXT.findall(lines))
        if plain and plain == lines.count(b"data:") and _STATS not in lines:
            # Only more text (most of a stream): counted, not parsed chunk by chunk, which would
            # cost the web process more than relaying them.
            self.chunks += plain
            if self.first_token_at is None:
                self.first_token_at = now
        else:
            for line in lines.split(b"\n"):
                self._line(line.strip(), now)
        self.finished_at = now

    def _line(self, line: bytes, now: float) -> None:
        if line.startswith(_STATS):
            self._exo_stats(line[len(_STATS):])
        if not line.startswith(b"data:"):
            return
        payload = line[5:].strip()
        if payload == b"[DONE]":
            self.finished = True
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
        if event.get("type") == "message_delta" and (event.get("delta") or {}).get("stop_reason"):
            self.finished = True
        take_usage(self, event)

    def take_body(self, body: bytes) -> None:
        """A whole (non-streaming) answer: its token counts, and finished if it is all there."""
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return  # broken off before its end
        if isinstance(parsed, dict):
            take_usage(self, parsed)
            self.finished = True
            if self.first_token_at is None:
                self.first_token_at = self.finished_at  # a whole answer arrives at once

    @property
    def first_token_ms(self) -> int | None:
        if self.first_token_at is None:
            return None
        return round((self.first_token_at - self.started) * 1000)

    @property
    def tokens_used(self) -> int:
        """Tokens in and out, for the daily limits; a cancelled stream's answer, whose count
        exo never sent, as the text chunks that arrived (about a token each)."""
        return (self.prompt_tokens or 0) + (self.completion_tokens or self.chunks)

    def _exo_stats(self, payload: bytes) -> None:
        try:
            speed = json.loads(payload).get("generation_tps")
        except (ValueError, AttributeError):
            return
        if isinstance(speed, int | float) and speed > 0:
            self.exo_tokens_per_second = round(float(speed), 1)

    @property
    def tokens_per_second(self) -> float | None:
        """exo's own generation speed if it sent it, else completion tokens over the time from
        the first token to the last byte."""
        if self.exo_tokens_per_second is not None:
            return self.exo_tokens_per_second
        tokens = self.completion_tokens or self.chunks
        if self.first_token_at is None or self.finished_at is None or tokens < 2:
            return None
        elapsed = self.finished_at - self.first_token_at
        return round((tokens - 1) / elapsed, 1) if elapsed > 0 else None


def outcome(meter: StreamMeter, *, client_left: bool, broken: str | None) -> tuple[str, str]:
    """How a relayed answer ended, for its usage record: (status, error). `broken` is why
    exo's connection failed mid-answer, if it did."""
    if client_left:
        return CANCELLED, "the client disconnected"
    if meter.error:
        return FAILED, meter.error
    if broken:
        return FAILED, f"exo broke the answer off: {broken}"
    if not meter.finished:
        return FAILED, "exo closed the stream before the answer was finished"
    return OK, ""


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
