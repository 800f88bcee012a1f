"""A long chat stream through the live stack's proxy, read in a thread of its own, for tests
that watch what it does to the cluster while it flows (network throughput on loopback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpx

from simulators.exo.catalogue import GUIDE_SPEEDS

LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
# The panel's cap on an answer (CHAT_MAX_TOKENS), at a pace the simulator holds (times its
# --speed of 20: 1500 tokens/s): over twenty seconds, many network readings (one every
# CLUSTER_POLL_SECONDS) of about 0.35 MB/s on each leg, time enough on a loaded machine. The
# tests stop reading once they have seen what they wait for.
ANSWER_TOKENS = 32768
TOKENS_PER_SECOND = 75.0
# Loopback is shared (the stack's polls and Redis, the other test pass's downloads): its level
# is the lowest of this many readings in a row, so that a burst, before the stream or during
# it, decides nothing.
LEVEL_READINGS = 5


@contextmanager
def long_answers(exo_url: str) -> Iterator[None]:
    """Every answer of the exo simulator ANSWER_TOKENS long, Llama 3.2 1B's at a steady
    TOKENS_PER_SECOND; the simulator's own lengths and speed after."""
    httpx.post(f"{exo_url}/_sim/settings", json={
        "answer_tokens": ANSWER_TOKENS, "model_speeds": {LLAMA_1B: TOKENS_PER_SECOND}},
    ).raise_for_status()
    try:
        yield
    finally:
        httpx.post(f"{exo_url}/_sim/settings", json={
            "answer_tokens": 0, "model_speeds": {LLAMA_1B: GUIDE_SPEEDS[LLAMA_1B][0]}},
        ).raise_for_status()


def loopback_level(readings: Iterable[int]) -> float:
    """Loopback's bytes per second over LEVEL_READINGS readings in a row."""
    return min(readings)


class ChatStream(threading.Thread):
    """A chat stream read to its end (or until stopped), counting the bytes it received."""

    def __init__(self, base_url: str, token: str, model: str = "llama-3.2-1b") -> None:
        super().__init__(daemon=True)
        self.base_url, self.token, self.model = base_url, token, model
        self.received = 0
        self.tail = b""
        self.status = 0
        self.started_at = 0.0
        self.stop = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream("POST", f"{self.base_url}/v1/chat/completions", timeout=60,
                              headers={"Authorization": f"Bearer {self.token}"},
                              json={"model": self.model, "stream": True,
                                    "max_tokens": ANSWER_TOKENS,
                                    "messages": [{"role": "user", "content": "Tell a story"}]}
                              ) as response:
                self.status = response.status_code
                self.started_at = time.monotonic()
                for chunk in response.iter_raw():
                    self.received += len(chunk)
                    self.tail = (self.tail + chunk)[-400:]
                    if self.stop.is_set():
                        break  # closing the connection cancels the answer in exo
        finally:
            self.done.set()

    def rate(self) -> float:
        """Bytes per second received so far: what the panel alone sent over loopback to us."""
        elapsed = time.monotonic() - self.started_at if self.started_at else 0.0
        return self.received / elapsed if elapsed > 0 else 0.0

    def end(self) -> None:
        self.stop.set()
        self.join(timeout=30)

    def ended_early(self) -> str:
        return (f"the stream ended (HTTP {self.status}, {self.received} bytes) too soon: "
                f"{self.tail.decode(errors='replace')[-300:]}")
