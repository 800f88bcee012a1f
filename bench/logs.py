"""Benchmark the log follower: throughput and line-to-browser latency.

1. Throughput: the follower (`cluster_app.logs.follow.LogFollower`, in this process) reads,
   classifies, writes to the node's Redis ring and publishes to the `logs` group a file of
   `--lines` exo-like lines; lines/s against plain `for line in file` over the same file.
2. Latency: `manage.py follow_logs` and the real web server run as processes; a line is
   appended to the followed file at a random moment and timed until a `/ws/logs/` client
   receives it.
   Baselines from the same run: a Redis pub/sub round trip, and an event published straight
   to the `logs` group reaching the same socket (the path without the follower).

Exits 1 when a target is missed. Not part of the test suite.

    .venv/bin/python bench/logs.py [--lines 200000] [--rounds 3] [--samples 100] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis

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
from websockets.asyncio.client import ClientConnection, connect

from arthur_panel.launcher import free_port, wait_for_port
from tests import stack

THROUGHPUT_TARGET = 20_000.0  # lines/s
LATENCY_TARGET = 0.5  # seconds, p95, file to browser
NODE = "alpha"
# What exo and its runners write, in about the proportions of a model load over JACCL.
LINES = [
    "[ {t} | INFO     | exo.master.main:_event_processor:164 ] applied event {n}: "
    "RunnerStatusUpdated",
    "[ {t} | INFO     | exo.worker.download.download_utils:download_shard:602 ] "
    "downloaded {n} of 16 files for mlx-community/Llama-3.3-70B-Instruct-4bit",
    "[ {t} | INFO     | exo.master.api:chat_completions:1318 ] chat completion {n} for "
    "mlx-community/DeepSeek-V3-4bit, 128 prompt tokens",
    "[ {t} | INFO     | exo.worker.runner.runner:main:402 ] generated token {n} at 21.4 tokens/s",
    "[ {t} | INFO     | exo.worker.engines.mlx.utils_mlx:mlx_distributed_init:131 ] rank 0 "
    'MLX_IBV_DEVICES: /tmp/tmpab12/hosts_{n}_0.json with devices: [[null, "rdma_en3"], '
    '["rdma_en4", null]]',
    "[ {t} | INFO     | exo.worker.engines.mlx.utils_mlx:mlx_distributed_init:131 ] "
    "Rank 0 mlx distributed initialization complete",
    "[ {t} | WARNING  | exo.worker.main:plan_step:88 ] runner {n} slow to answer",
    "[ {t} | INFO     | exo.shared.election:_campaign:212 ] node {n} still master",
    "  File \"/Users/arthur/exo/src/exo/worker/runner/runner.py\", line {n}, in main",
    "RuntimeError: [jaccl] Recv failed with errno=60",
]


def write_lines(path: Path, count: int) -> None:
    """`count` lines cycling through LINES."""
    stamp = "2026-06-22 15:38:54.101"
    with path.open("w", encoding="utf-8") as handle:
        for n in range(count):
            handle.write(LINES[n % len(LINES)].format(t=stamp, n=n) + "\n")


def plain_read(path: Path) -> float:
    """Seconds to read every line, and nothing else: the floor of any follower."""
    began = time.perf_counter()
    with path.open(encoding="utf-8") as handle:
        for _ in handle:
            pass
    return time.perf_counter() - began


def follower_read(path: Path, count: int) -> float:
    """Seconds for the follower to take every line of `path` into the ring and the group.
    The file is written after the follower looks for it, so it is read from its start."""
    from cluster_app.logs.follow import LogFollower

    follower = LogFollower()
    follower.configure({NODE: [str(path)]})
    write_lines(path, count)
    began = time.perf_counter()
    read = 0
    while read < count:
        read += follower.step()
    follower.close()  # the last batch, written
    spent = time.perf_counter() - began
    follower.configure({})
    return spent


def measure_throughput(work: Path, count: int, rounds: int) -> tuple[list[float], list[float]]:
    plain, follower = [], []
    for index in range(rounds):
        path = work / f"throughput-{index}.log"
        follower.append(follower_read(path, count))
        plain.append(plain_read(path))
        print(f"  round {index + 1}: follower {count / follower[-1]:,.0f} lines/s, "
              f"plain {count / plain[-1]:,.0f} lines/s ({path.stat().st_size / 2**20:.1f} MiB)",
              flush=True)
        path.unlink()
    return plain, follower


async def until(socket: ClientConnection, found: Callable[[dict[str, Any]], bool],
                timeout: float = 10.0) -> float:
    """Read frames until one has a line `found` accepts; return when it came (monotonic)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
        if frame["type"] == "logs.lines" and any(found(line) for line in frame["lines"]):
            return time.monotonic()


def marked(marker: str) -> Callable[[dict[str, Any]], bool]:
    return lambda line: line["text"].endswith(marker)


async def file_latencies(ws_url: str, token: str, path: Path, samples: int,
                         rng: random.Random) -> list[float]:
    latencies = []
    async with connect(f"{ws_url}/ws/logs/", max_size=None,
                       additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        await socket.recv()  # the backlog
        for n in range(samples):
            await asyncio.sleep(rng.uniform(0, 0.2))  # a random moment of the follower's cycle
            marker = f"sample {n}"
            began = time.monotonic()
            with path.open("a", encoding="utf-8") as handle:
                handle.write(f"[ 2026-06-22 15:38:54.101 | INFO     | exo.main:main_inner:339 ] "
                             f"[jaccl] {marker}\n")
            latencies.append(await until(socket, marked(marker)) - began)
    return latencies


async def layer_latencies(ws_url: str, token: str, samples: int,
                          rng: random.Random) -> list[float]:
    """An event published straight to the `logs` group, to the same socket."""
    from asgiref.sync import sync_to_async

    from cluster_app.jobs import events

    latencies = []
    async with connect(f"{ws_url}/ws/logs/", max_size=None,
                       additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        await socket.recv()
        for n in range(samples):
            await asyncio.sleep(rng.uniform(0, 0.05))
            marker = f"direct {n}"
            line = {"node": NODE, "seq": 10**9 + n, "text": marker, "classes": []}
            began = time.monotonic()
            await sync_to_async(events.publish)(
                [events.LOGS_GROUP], {"type": "logs.lines", "lines": [line], "skipped": 0})
            latencies.append(await until(socket, marked(marker)) - began)
    return latencies


def pubsub_latencies(redis_url: str, samples: int) -> list[float]:
    client = redis.Redis.from_url(redis_url)
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe("bench-logs")
    listener.get_message(timeout=1)
    latencies = []
    for n in range(samples):
        began = time.monotonic()
        client.publish("bench-logs", f"sample {n}")
        while listener.get_message(timeout=5) is None:
            pass
        latencies.append(time.monotonic() - began)
    listener.close()
    return latencies


def measure_latency(exits: ExitStack, work: Path, redis_url: str, token: str, samples: int,
                    seed: int) -> dict[str, list[float]]:
    from cluster_app.models import Node

    path = work / "latency.log"
    path.write_text("")
    Node.objects.filter(name=NODE).update(exo_log_files=[str(path)])
    port = free_port()
    started(exits, stack.web_command(), work / "web.log", {"HOST": "127.0.0.1", "PORT": str(port)})
    started(exits, [sys.executable, "manage.py", "follow_logs", "--node", NODE],
            work / "follow.log")
    wait_for_port(port, timeout=30)
    beat = f"arthur:logs:follower:{NODE}"
    stack.wait_until(lambda: redis.Redis.from_url(redis_url).exists(beat), timeout=30)
    ws_url = f"ws://127.0.0.1:{port}"
    rng = random.Random(seed)
    return {
        "file": asyncio.run(file_latencies(ws_url, token, path, samples, rng)),
        "layer": asyncio.run(layer_latencies(ws_url, token, samples, rng)),
        "pubsub": pubsub_latencies(redis_url, samples),
    }


def report(count: int, plain: list[float], follower: list[float],
           latency: dict[str, list[float]]) -> bool:
    rate, plain_rate = count / min(follower), count / min(plain)
    rate_ok = rate >= THROUGHPUT_TARGET
    p95 = {name: percentile(values, 0.95) for name, values in latency.items()}
    latency_ok = p95["file"] <= LATENCY_TARGET
    print(f"\nthroughput: follower {rate:,.0f} lines/s ({rate / plain_rate:.4f}x plain "
          f"`for line in file`'s {plain_rate:,.0f} lines/s; best of {len(follower)}), "
          f"target >= {THROUGHPUT_TARGET:,.0f} lines/s: {verdict(rate_ok)}")
    print(f"latency: file to /ws/logs/ p50 {statistics.median(latency['file']) * 1000:.0f} ms, "
          f"p95 {p95['file'] * 1000:.0f} ms ({p95['file'] / p95['pubsub']:.0f}x a Redis pub/sub "
          f"round trip's p95 {p95['pubsub'] * 1000:.2f} ms; "
          f"{p95['file'] / p95['layer']:.1f}x the logs group to the socket's p95 "
          f"{p95['layer'] * 1000:.1f} ms), target <= {LATENCY_TARGET * 1000:.0f} ms: "
          f"{verdict(latency_ok)}")
    return rate_ok and latency_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines in the throughput file")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds")
    parser.add_argument("--samples", type=int, default=100, help="timed lines for latency")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the work dir and its logs")
    args = parser.parse_args()
    with ExitStack() as exits:
        work = open_work_dir(exits, keep=args.keep)
        redis_url = start_redis(exits, work)
        prepare_django(work, redis_url)
        token = issue_token()
        print("throughput:", flush=True)
        plain, follower = measure_throughput(work, args.lines, args.rounds)
        print("latency:", flush=True)
        latency = measure_latency(exits, work, redis_url, token, args.samples, args.seed)
        return 0 if report(args.lines, plain, follower, latency) else 1


if __name__ == "__main__":
    sys.exit(main())
