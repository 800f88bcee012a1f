"""A long chat stream through the live stack's proxy, read in a thread of its own, for tests
that watch what it does to the cluster while it flows (network throughput on loopback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from simulators.exo.catalogue import GUIDE_SPEEDS
from tests.stack import wait_until

LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
# The panel's cap on an answer (CHAT_MAX_TOKENS), at a pace the simulator holds (times its
# --speed of 20: 1500 tokens/s): over twenty seconds, many network readings (one every
# CLUSTER_POLL_SECONDS) of about 0.35 MB/s on each leg, time enough on a loaded machine. The
# tests stop reading once they have seen what they wait for.
ANSWER_TOKENS = 32768
TOKENS_PER_SECOND = 75.0
# Loopback is shared with the stack's polls and Redis and with the other test pass, whose
# traffic comes in bursts and in runs of seconds (a download, a log burst through Redis): the
# stream shows as this many readings in a row above the quietest reading before it or after it,
# and the readings after it go on (up to QUIET_READINGS_MOST) until a quiet one shows it.
LEVEL_READINGS = 5
DURING_READINGS = 2 * LEVEL_READINGS
QUIET_READINGS_MOST = 40


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


def loopback_during_a_stream(next_reading: Callable[[], int], base_url: str,
                             token: str) -> list[int]:
    """Loopback's bytes per second received, one reading per call of `next_reading`, before,
    during and after a chat stream; asserts that the stream shows, and returns the readings
    while it flowed."""
    before = [next_reading() for _ in range(LEVEL_READINGS)]
    stream = ChatStream(base_url, token)
    stream.start()
    try:
        wait_until(lambda: stream.received > 0 or stream.done.is_set(), timeout=30)
        next_reading()  # begun before the stream's first bytes, maybe
        during = [next_reading() for _ in range(DURING_READINGS)]
        assert not stream.done.is_set(), stream.ended_early()
        # The panel's bytes to this client alone cross loopback at this rate (exo's to the
        # panel once more): the least a reading while they flow adds to the quiet level.
        added = stream.rate()
    finally:
        stream.end()
    next_reading()  # may hold the stream's last bytes
    level = max(min(during[start:start + LEVEL_READINGS])
                for start in range(DURING_READINGS - LEVEL_READINGS + 1))
    after = [next_reading()]
    while level < min(before + after) + added and len(before + after) < QUIET_READINGS_MOST:
        after.append(next_reading())
    quiet = min(before + after)
    assert level >= quiet + added, (
        f"loopback at {during} B/s during the stream, not {LEVEL_READINGS} readings in a row "
        f"above the quietest ({quiet} B/s of {before} before and {after} after) by the "
        f"stream's {added:.0f} B/s")
    return during
