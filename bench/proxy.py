"""Benchmark the chat proxy (`/v1/chat/completions`) against the exo simulator it relays.

1. Added first-token latency, idle: request start to the first `data:` line with content,
   through the proxy minus straight to the simulator, over short streams one at a time.
2. Single-stream throughput: with the simulator too fast to be the limit, tokens/s of a stream
   through the proxy against the same stream straight to the simulator.
3. Concurrent streams: 32 at once, each a 500-token answer at the guide's DeepSeek V3 speed
   (161.5 tokens/s): the first token through the proxy against straight to the simulator
   (median and 95th percentile), no errors, and aggregate tokens/s against direct.

Every request goes both ways in the same run, taking turns going first, and each figure is
compared with the direct one, because machines are noisy. Prints PASS or FAIL per target and
exits 1 when one is missed. Not part of the test suite.

    .venv/bin/python bench/proxy.py [--requests 50] [--streams 20] [--concurrency 32] [--keep]
    .venv/bin/python bench/proxy.py --floor   # the same against a relay that does nothing else
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# The sibling benchmark's set-up (it also makes the project and tests/ importable).
from cluster_poll import (
    issue_token,
    open_work_dir,
    percentile,
    prepare_django,
    start_redis,
    started,
    verdict,
)

from arthur_panel.launcher import exo_simulator_command, free_port, wait_for_port
from arthur_panel.web import default_processes
from tests import stack

MODEL = "mlx-community/Llama-3.2-1B-Instruct-4bit"
IDLE_ADDED_P50_TARGET = 0.003  # seconds the proxy may add to the median first token, idle
SINGLE_RATIO_TARGET = 0.9  # one stream's tokens/s through the proxy over direct
CONCURRENT_ADDED_P50_TARGET = 0.010  # seconds added to the median first token of 32 at once...
CONCURRENT_ADDED_P95_TARGET = 0.020  # ...and to their 95th percentile
CONCURRENT_RATIO_TARGET = 0.98  # aggregate tokens/s through the proxy over direct
SHORT_MAX_TOKENS = 8
LONG_MAX_TOKENS = 5000  # the single stream: long enough to measure a rate
CONCURRENT_MAX_TOKENS = 500  # the guide's test prompt asks DeepSeek V3 for 500 tokens
FAST_RATE = 1e7  # tokens/s asked of the simulator: it never sleeps, only its CPU limits it
# Per stream in the concurrent part: the guide's measured DeepSeek V3 speed, so 32 streams
# are 32 people using the primary model at once.
CONCURRENT_RATE = 161.5
PROMPT = "Write a Python function to implement binary search"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
BENCH = Path(__file__).resolve().parent


@dataclass
class Stream:
    """One streamed completion as the client saw it (times from time.perf_counter)."""

    began: float
    first_token: float | None = None
    last_token: float | None = None
    ended: float = 0.0
    tokens: int = 0  # data chunks with content
    completion_tokens: int | None = None  # from the final chunk's usage
    error: str = ""

    @property
    def first_token_seconds(self) -> float:
        return (self.first_token or float("inf")) - self.began

    @property
    def decode_seconds(self) -> float:
        """From the first content chunk to the last: the relay's share of a long stream."""
        if self.first_token is None or self.last_token is None:
            return 0.0
        return self.last_token - self.first_token


@dataclass
class Target:
    """Where a request goes: the panel's proxy (with a token) or the simulator itself."""

    name: str
    client: httpx.AsyncClient


def chat_body(prompt: str, max_tokens: int) -> dict[str, Any]:
    return {"model": MODEL, "stream": True, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": prompt}]}


def content_of(line: str) -> tuple[bool, int | None, str]:
    """Whether a `data:` line carries text, the completion tokens of its usage, its error."""
    try:
        event = json.loads(line[5:])
    except ValueError:
        return False, None, ""
    if not isinstance(event, dict):
        return False, None, ""
    if isinstance(event.get("error"), dict):
        return False, None, str(event["error"].get("message", "error"))
    text = any((choice.get("delta") or {}).get("content") for choice in event.get("choices", []))
    usage = event.get("usage") or {}
    return text, usage.get("completion_tokens"), ""


async def stream_once(target: Target, body: dict[str, Any]) -> Stream:
    """Send one streamed chat completion and read it to the end."""
    run = Stream(began=time.perf_counter())
    try:
        async with target.client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                run.error = f"HTTP {response.status_code}: {response.text[:200]}"
                return run
            async for line in response.aiter_lines():
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                text, completion, error = content_of(line)
                if text:
                    run.last_token = time.perf_counter()
                    run.first_token = run.first_token or run.last_token
                    run.tokens += 1
                run.completion_tokens = completion or run.completion_tokens
                run.error = run.error or error
    except httpx.HTTPError as exc:
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        run.ended = time.perf_counter()
    if not run.error and run.first_token is None:
        run.error = "no content"
    return run


async def in_turn(proxy: Target, direct: Target, rounds: int,
                  once: Callable[[Target], Awaitable[Any]]) -> dict[str, list[Any]]:
    """`once` on both targets `rounds` times, each going first in every other round, so a
    slow spell of the machine hits both alike. Returns each target's results by name."""
    results: dict[str, list[Any]] = {proxy.name: [], direct.name: []}
    for round_ in range(rounds):
        for target in (proxy, direct) if round_ % 2 == 0 else (direct, proxy):
            with collected_before():
                results[target.name].append(await once(target))
    return results


@contextmanager
def collected_before() -> Iterator[None]:
    """The benchmark's own garbage collected before the block and not during it: a full
    collection of this process (Django loaded) stops its event loop for 80-130 ms, which the
    side whose requests it landed in took as its own."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def failures(runs: list[Stream]) -> list[str]:
    return [run.error for run in runs if run.error]


def start_exo(exits: ExitStack, work: Path, *extra: str) -> str:
    port = free_port()
    command = exo_simulator_command(port, work, "--seed", "1", "--load-time", "0.5",
                                    "--tick", "0.05", *extra)
    started(exits, command, work / "exo-sim.log")
    wait_for_port(port, timeout=30)
    return f"http://127.0.0.1:{port}"


def load_model(sim: httpx.Client) -> None:
    """Place the model, create its instance and wait until every runner is ready."""
    response = sim.get("/instance/placement", params={
        "model_id": MODEL, "sharding": "Pipeline", "instance_meta": "MlxRing", "min_nodes": 1})
    response.raise_for_status()
    instance = response.json()
    sim.post("/instance", json={"instance": instance}).raise_for_status()
    runner_ids = next(iter(instance.values()))["shardAssignments"]["nodeToRunner"].values()

    def ready() -> bool:
        runners = sim.get("/state").json()["runners"]
        return all(next(iter(runners.get(r, {"missing": {}}))) == "RunnerReady"
                   for r in runner_ids)

    stack.wait_until(ready, timeout=30)


def set_rate(sim: httpx.Client, rate: float) -> None:
    """The model's tokens/s on the simulator (speed 1: the catalogue's first-token time); every
    answer runs to its max_tokens."""
    sim.post("/_sim/settings", json={"speed": 1.0, "model_speeds": {MODEL: rate},
                                     "answer_tokens": LONG_MAX_TOKENS}).raise_for_status()


async def measure_first_token(proxy: Target, direct: Target, requests: int
                              ) -> dict[str, list[Stream]]:
    body = chat_body("Say hello.", SHORT_MAX_TOKENS)
    await in_turn(proxy, direct, 4, lambda target: stream_once(target, body))  # warm-up
    return await in_turn(proxy, direct, requests, lambda target: stream_once(target, body))


async def measure_single(proxy: Target, direct: Target, streams: int
                         ) -> dict[str, list[Stream]]:
    body = chat_body(PROMPT, LONG_MAX_TOKENS)
    await in_turn(proxy, direct, 2, lambda target: stream_once(target, body))  # warm-up
    return await in_turn(proxy, direct, streams, lambda target: stream_once(target, body))


async def concurrent_wave(target: Target, concurrency: int) -> tuple[float, list[Stream]]:
    """`concurrency` streams started together; the wall time until the last one ends."""
    body = chat_body(PROMPT, CONCURRENT_MAX_TOKENS)
    began = time.perf_counter()
    runs = await asyncio.gather(*(stream_once(target, body) for _ in range(concurrency)))
    return time.perf_counter() - began, list(runs)


async def measure_concurrent(proxy: Target, direct: Target, concurrency: int, waves: int,
                             ) -> dict[str, list[tuple[float, list[Stream]]]]:
    return await in_turn(proxy, direct, waves,
                         lambda target: concurrent_wave(target, concurrency))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def target(name: str, ok: bool, measured: str, goal: str) -> bool:
    """Print one target's line, e.g. `single stream: 0.93x direct, target >= 0.90x: PASS`."""
    print(f"{name}: {measured}, target {goal}: {verdict(ok)}")
    return ok


def added(values: dict[str, list[float]], fraction: float) -> float:
    """What the proxy adds to the percentile `fraction` of `values` (seconds, by target)."""
    return percentile(values["proxy"], fraction) - percentile(values["direct"], fraction)


def print_first_tokens(seconds: dict[str, list[float]]) -> None:
    for name, values in seconds.items():
        print(f"  {name:<7} first token p50 {ms(percentile(values, 0.5))}, p95 "
              f"{ms(percentile(values, 0.95))}, max {ms(max(values))}")


def report_first_token(runs: dict[str, list[Stream]]) -> list[bool]:
    proxy, direct = runs["proxy"], runs["direct"]
    print(f"\nidle first token, {len(proxy)} requests each way, max_tokens {SHORT_MAX_TOKENS}:")
    if errors := failures(proxy) + failures(direct):
        print(f"  {len(errors)} requests failed, e.g. {errors[0]}")
        return [target("idle first token", False, "failed requests", "none")]
    seconds = {name: [r.first_token_seconds for r in rs] for name, rs in runs.items()}
    print_first_tokens(seconds)
    p50, p95 = added(seconds, 0.5), added(seconds, 0.95)
    return [target("idle first token", p50 <= IDLE_ADDED_P50_TARGET,
                   f"the proxy adds p50 {ms(p50)} (p95 {ms(p95)})",
                   f"<= {ms(IDLE_ADDED_P50_TARGET)} p50")]


def stream_rate(runs: list[Stream]) -> float:
    """Tokens/s over the streams' decode windows (first content chunk to last), pooled."""
    return sum(r.tokens - 1 for r in runs) / sum(r.decode_seconds for r in runs)


def report_single(runs: dict[str, list[Stream]]) -> list[bool]:
    proxy, direct = runs["proxy"], runs["direct"]
    print(f"\nsingle stream, {len(proxy)} streams each way (max_tokens {LONG_MAX_TOKENS}), "
          f"simulator at {FAST_RATE:g} tokens/s:")
    if errors := failures(proxy) + failures(direct):
        print(f"  {len(errors)} streams failed, e.g. {errors[0]}")
        return [target("single stream", False, "failed streams", "none")]
    for name, rs in runs.items():
        per_stream = [(r.tokens - 1) / r.decode_seconds for r in rs]
        whole = [r.tokens / (r.ended - r.began) for r in rs]
        print(f"  {name:<7} {stream_rate(rs):>8.0f} tokens/s first to last token (per stream "
              f"p50 {statistics.median(per_stream):.0f}, min {min(per_stream):.0f}); "
              f"request to end p50 {statistics.median(whole):.0f} tokens/s")
    rate, base = stream_rate(proxy), stream_rate(direct)
    return [target("single stream", rate / base >= SINGLE_RATIO_TARGET,
                   f"proxy {rate:.0f} tokens/s, {rate / base:.2f}x direct's {base:.0f}",
                   f">= {SINGLE_RATIO_TARGET:.2f}x")]


def report_concurrent(waves: dict[str, list[tuple[float, list[Stream]]]], concurrency: int,
                      rate: float) -> list[bool]:
    errors = [e for name in waves for _, runs in waves[name] for e in failures(runs)]
    aggregate = {name: sum(r.tokens for _, runs in ws for r in runs) / sum(s for s, _ in ws)
                 for name, ws in waves.items()}
    seconds = {name: [r.first_token_seconds for _, runs in ws for r in runs if not r.error]
               for name, ws in waves.items()}
    print(f"\n{concurrency} concurrent streams, {len(waves['proxy'])} waves each way, "
          f"simulator at {rate:g} tokens/s per stream:")
    for name, ws in waves.items():
        walls = " ".join(f"{s:.2f}" for s, _ in ws)
        print(f"  {name:<7} {aggregate[name]:>8.0f} tokens/s aggregate; waves {walls} s")
    if errors:
        print(f"  {len(errors)} streams failed, e.g. {errors[0]}")
    if not all(seconds.values()):
        return [target("concurrent", False, "no stream answered", "answers")]
    print_first_tokens(seconds)
    p50, p95 = added(seconds, 0.5), added(seconds, 0.95)
    ratio = aggregate["proxy"] / aggregate["direct"]
    return [
        target("concurrent errors", not errors, f"{len(errors)} failed streams", "0"),
        target("concurrent first token p50", p50 <= CONCURRENT_ADDED_P50_TARGET,
               f"the proxy adds {ms(p50)}", f"<= {ms(CONCURRENT_ADDED_P50_TARGET)}"),
        target("concurrent first token p95", p95 <= CONCURRENT_ADDED_P95_TARGET,
               f"the proxy adds {ms(p95)}", f"<= {ms(CONCURRENT_ADDED_P95_TARGET)}"),
        target("concurrent aggregate", ratio >= CONCURRENT_RATIO_TARGET,
               f"proxy {aggregate['proxy']:.0f} tokens/s, {ratio:.2f}x direct's "
               f"{aggregate['direct']:.0f}", f">= {CONCURRENT_RATIO_TARGET:.2f}x"),
    ]


async def measure(base_url: str, exo_url: str, token: str, sim: httpx.Client,
                  args: argparse.Namespace) -> list[bool]:
    # A connection per request both ways: the simulator closes each stream's connection
    # (`Connection: close`), so straight to it a client always connects anew; kept open to the
    # panel, httpx itself was slow to send a wave on 32 reused connections (they reached the panel's
    # application 70-100 ms after the wave began, against 13 ms to exo's).
    limits = httpx.Limits(max_connections=args.concurrency * 2, max_keepalive_connections=0)
    key = {"Authorization": f"Bearer {token}"} if token else None  # none for --floor
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT, limits=limits,
                                 headers=key) as to_proxy, \
            httpx.AsyncClient(base_url=exo_url, timeout=TIMEOUT, limits=limits) as to_sim:
        proxy, direct = Target("proxy", to_proxy), Target("direct", to_sim)
        set_rate(sim, FAST_RATE)
        first = await measure_first_token(proxy, direct, args.requests)
        print("  first token measured", flush=True)
        single = await measure_single(proxy, direct, args.streams)
        print("  single stream measured", flush=True)
        set_rate(sim, args.concurrent_rate)
        await concurrent_wave(proxy, args.concurrency)  # warm-up
        concurrent = await measure_concurrent(proxy, direct, args.concurrency, args.waves)
        print("  concurrent streams measured", flush=True)
    return [*report_first_token(first), *report_single(single),
            *report_concurrent(concurrent, args.concurrency, args.concurrent_rate)]


def bare_relay(exits: ExitStack, work: Path, exo_url: str, processes: int) -> str:
    """bench/bare_relay.py served by uvicorn as the panel is served; its URL."""
    port = free_port()
    started(exits, [sys.executable, "-m", "uvicorn", "bare_relay:app", "--port", str(port),
                    "--workers", str(processes), "--lifespan", "off", "--no-access-log"],
            work / "bare-relay.log",
            {"SIM_URL": exo_url, "PYTHONPATH": os.pathsep.join(map(str, (BENCH, BENCH.parent)))})
    wait_for_port(port, timeout=30)
    return f"http://127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50,
                        help="first-token requests each way (default 50)")
    parser.add_argument("--streams", type=int, default=20,
                        help="single-stream runs each way (default 20)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--waves", type=int, default=4,
                        help="rounds of concurrent streams each way (default 4)")
    parser.add_argument("--concurrent-rate", type=float, default=CONCURRENT_RATE,
                        help="the simulator's tokens/s per stream in the concurrent part "
                             f"(default {CONCURRENT_RATE:g}, the guide's DeepSeek V3)")
    parser.add_argument("--web-processes", type=int, default=default_processes(),
                        help="WEB_CONCURRENCY (default: as the panel runs here, "
                             f"{default_processes()})")
    parser.add_argument("--floor", action="store_true",
                        help="measure bench/bare_relay.py (a relay that does nothing else) "
                             "instead of the panel: what any Python relay adds here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and its logs")
    args = parser.parse_args()
    with ExitStack() as exits:
        work = open_work_dir(exits, keep=args.keep)
        exo_url = start_exo(exits, work)
        sim = exits.enter_context(httpx.Client(base_url=exo_url, timeout=10))
        load_model(sim)
        if args.floor:
            base_url = bare_relay(exits, work, exo_url, args.web_processes)
            print(f"bare relay ready ({args.web_processes} processes), model loaded", flush=True)
            return 0 if all(asyncio.run(measure(base_url, exo_url, "", sim, args))) else 1
        prepare_django(work, start_redis(exits, work))
        token = issue_token()
        database = os.environ["DATABASE_URL"]
        live = exits.enter_context(stack.running_stack(
            database, exo_url, "", work / "stack",
            {"CLUSTER_POLL_SECONDS": "3600",
             "RATE_STREAMS_PER_USER": str(args.concurrency * 2),
             "RATE_CHAT_REQUESTS_PER_MINUTE": "0",
             "WEB_CONCURRENCY": str(args.web_processes)}))
        print(f"stack ready ({args.web_processes} web processes), model loaded", flush=True)
        results = asyncio.run(measure(live.base_url, exo_url, token, sim, args))
        return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
