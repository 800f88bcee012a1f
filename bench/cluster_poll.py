"""Benchmark the cluster poll with 2, 8 and 32 simulated exo nodes.

1. Poll cost: CPU seconds of one in-process `cluster_poll` (this process only).
2. Change-to-websocket latency: a real uvicorn + Celery beat + worker poll the simulator every
   `--interval` seconds; toggle a node's RDMA at a random moment and time the first
   `/ws/cluster/` frame showing it.

Each figure is printed as a ratio against a baseline from the same run, because machines are
noisy. Exits 1 when a target is missed. Not part of the test suite.

    .venv/bin/python bench/cluster_poll.py [--sizes 2 8 32] [--polls 50] [--changes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import math
import os
import pstats
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make the project and tests/ importable

from arthur_panel.launcher import (  # noqa: E402
    exo_simulator_command,
    free_port,
    private_redis_url,
    redis_command,
    wait_for_port,
)
from tests import stack  # noqa: E402

GIB = 1024**3
MEMORY_GIB = (512, 256, 192, 128, 96)  # Mac Studio sizes, in turn
POLL_CPU_TARGET = 0.015  # seconds of CPU for one poll: the median
POLL_CPU_P95_TARGET = 0.030  # and the 95th percentile
LATENCY_SLACK = 0.1  # seconds allowed on top of one poll interval
HISTORY_STEP = timedelta(seconds=10)  # one fine memory-history bucket per poll, as in real use


@dataclass
class SizeResult:
    nodes: int
    poll_cpu: list[float]  # seconds per poll
    fetch_cpu: list[float]  # seconds per `client.state()` + `normalise`: the floor of a poll
    latency: list[float]  # seconds from change to frame; inf for a change never seen


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was measured, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def node_names(count: int) -> list[str]:
    return [f"N{index:02d}" for index in range(1, count + 1)]


def node_memory_gib(index: int) -> int:
    return MEMORY_GIB[index % len(MEMORY_GIB)]


def started(exits: ExitStack, args: list[str], log: Path,
            extra_env: dict[str, str] | None = None) -> None:
    """Start `args` as a subprocess that `exits` stops."""
    process = stack.start(args, {**os.environ, **(extra_env or {})}, log)
    exits.callback(stack.stop, process)


def start_redis(exits: ExitStack, work: Path) -> str:
    port = free_port()
    started(exits, redis_command(port, work / "redis"), work / "redis.log")
    wait_for_port(port)
    return private_redis_url(port)


def start_exo(exits: ExitStack, work: Path, count: int) -> str:
    port = free_port()
    nodes = []
    for index, name in enumerate(node_names(count)):
        # Explicit addresses: the simulator's default 192.168.1.<10 * n> stops being one at 26.
        nodes += ["--node", f"{name}:{node_memory_gib(index)}:ip=10.0.0.{index + 1}"]
    command = exo_simulator_command(port, work / f"exo-{count}", "--seed", "1", *nodes)
    started(exits, command, work / f"exo-{count}.log")
    wait_for_port(port, timeout=30)
    return f"http://127.0.0.1:{port}"


def seed_inventory(count: int) -> None:
    """Replace the inventory with one row per simulated node, matched by friendly name."""
    from cluster_app.models import Node

    Node.objects.all().delete()
    Node.objects.bulk_create(
        Node(name=name.lower(), display_name=name, hostname=f"{name.lower()}.local",
             role="master" if index == 0 else "worker", hardware="Mac Studio, Apple M3 Ultra",
             ram_bytes=node_memory_gib(index) * GIB)
        for index, name in enumerate(node_names(count))
    )


def measure_poll_cost(exo_url: str, polls: int) -> tuple[list[float], list[float]]:
    """CPU seconds of each poll, and of fetching and normalising the same /state alone."""
    from django.utils import timezone

    from arthur_panel.celery import freeze_startup_objects, publish_on_own_loops
    from cluster_app.exo.client import ExoClient
    from cluster_app.exo.state import normalise
    from cluster_app.nodes.poll import cluster_poll

    # As a worker does once started: what is loaded by now is out of the collector's way, and
    # live events go out on an event loop kept for them.
    freeze_startup_objects()
    publish_on_own_loops()
    warmup = 3
    start = timezone.now() - HISTORY_STEP * (warmup + polls)
    poll_cpu, fetch_cpu = [], []
    with ExoClient(exo_url, retries=0) as client:
        for index in range(warmup + polls):
            began = time.process_time()
            cluster_poll(client=client, now=start + HISTORY_STEP * index)
            spent = time.process_time() - began
            began = time.process_time()
            normalise(client.state())
            if index >= warmup:
                poll_cpu.append(spent)
                fetch_cpu.append(time.process_time() - began)
    return poll_cpu, fetch_cpu


def print_profile(exo_url: str, polls: int) -> None:
    """Where the poll's time goes, from polls after the timed ones (profiling slows them)."""
    from cluster_app.exo.client import ExoClient
    from cluster_app.nodes.poll import cluster_poll

    profile = cProfile.Profile(time.process_time)
    with ExoClient(exo_url, retries=0) as client:
        for _ in range(polls):
            profile.runcall(cluster_poll, client=client)
    order = os.environ.get("BENCH_PROFILE_SORT", "cumulative")
    pstats.Stats(profile).sort_stats(order).print_stats(30)


def issue_token() -> str:
    """A key of an operator (the role the migrations seed): the benchmarks start jobs."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from cluster_app.access.permissions import OPERATOR_GROUP
    from cluster_app.models import ApiToken

    user = get_user_model().objects.create_user("bench", password=None)
    user.groups.add(Group.objects.get(name=OPERATOR_GROUP))
    return ApiToken.issue(user=user, name="bench")[1]


@contextmanager
def running_stack(work: Path, exo_url: str, interval: float) -> Iterator[stack.Stack]:
    """The test suite's live stack, polling every `interval` seconds."""
    database = os.environ["DATABASE_URL"]
    with stack.running_stack(database, exo_url, "", work / "stack",
                             {"CLUSTER_POLL_SECONDS": str(interval)}) as live:
        yield live


def rdma_shown(frame: dict[str, Any], name: str) -> bool | None:
    """What a `/ws/cluster/` frame says about the node's RDMA (None before the first poll)."""
    for node in (frame.get("cluster") or {}).get("nodes", []):
        if node["name"] == name.lower():
            return node["rdma_enabled"]  # type: ignore[no-any-return]
    return None


def showing_rdma(names: list[str], enabled: bool) -> Callable[[dict[str, Any]], bool]:
    """A test for frames that show RDMA `enabled` on every one of `names`."""
    return lambda frame: all(rdma_shown(frame, name) is enabled for name in names)


async def frame_where(socket: ClientConnection, shows: Callable[[dict[str, Any]], bool],
                      timeout: float) -> float:
    """Read frames until one `shows` what is expected; return when it arrived (monotonic)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
        if shows(frame):
            return time.monotonic()


async def measure_latency(live: stack.Stack, exo_url: str, token: str, count: int,
                          changes: int, interval: float, rng: random.Random) -> list[float]:
    names = node_names(count)
    rdma = dict.fromkeys(names, True)
    latencies: list[float] = []
    async with connect(f"{live.ws_url}/ws/cluster/", max_size=None,
                       additional_headers={"Authorization": f"Bearer {token}"}) as socket, \
            httpx.AsyncClient(base_url=exo_url, timeout=10) as sim:
        # The stack has polled at least once and sees every node.
        await frame_where(socket, showing_rdma(names, True), timeout=60)
        for _ in range(changes):
            name = rng.choice(names)
            rdma[name] = not rdma[name]
            await asyncio.sleep(rng.uniform(0, interval))  # a random moment in the poll cycle
            changed = time.monotonic()
            response = await sim.post(f"/_sim/nodes/{name}/rdma", json={"enabled": rdma[name]})
            response.raise_for_status()
            try:
                seen = await frame_where(socket, showing_rdma([name], rdma[name]),
                                         timeout=5 * interval + 5)
            except TimeoutError:
                print(f"  {count} nodes: RDMA {rdma[name]} on {name} never reached the socket")
                return [*latencies, math.inf]
            latencies.append(seen - changed)
    return latencies


def measure_size(work: Path, count: int, args: argparse.Namespace, token: str,
                 profile: bool) -> SizeResult:
    with ExitStack() as exits:
        exo_url = start_exo(exits, work, count)
        seed_inventory(count)
        poll_cpu, fetch_cpu = measure_poll_cost(exo_url, args.polls)
        if profile:
            print_profile(exo_url, args.polls)
        print(f"  {count} nodes: poll cost measured, starting the stack", flush=True)
        with running_stack(work / f"stack-{count}", exo_url, args.interval) as live:
            latency = asyncio.run(measure_latency(live, exo_url, token, count, args.changes,
                                                  args.interval, random.Random(args.seed + count)))
        print(f"  {count} nodes: latency measured", flush=True)
    return SizeResult(count, poll_cpu, fetch_cpu, latency)


ROW = "{:>5} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def report(results: list[SizeResult], interval: float) -> bool:
    """Print the summary table and verdicts; return whether every target was met."""
    base = results[0]
    base_cost = statistics.median(base.poll_cpu)
    budget = interval + LATENCY_SLACK
    print("\n" + ROW.format("", "poll CPU", "", "fetch +", "", "ws", "latency", ""))
    print(ROW.format("nodes", "p50 ms", "p95 ms", "norm. ms", f"/{base.nodes}-node",
                     "p50 s", "p95 s", "/budget"))
    for r in results:
        cost, p95 = statistics.median(r.poll_cpu), percentile(r.latency, 0.95)
        print(ROW.format(r.nodes, ms(cost), ms(percentile(r.poll_cpu, 0.95)),
                         ms(statistics.median(r.fetch_cpu)), f"{cost / base_cost:.1f}x",
                         f"{statistics.median(r.latency):.3f}", f"{p95:.3f}",
                         f"{p95 / budget:.2f}x"))
    print(f"(budget: poll interval {interval:g} s + {LATENCY_SLACK:g} s; fetch + norm.: "
          "ExoClient.state() + normalise() of the same /state)\n")
    passed = True
    for r in results:
        cost, p95 = statistics.median(r.poll_cpu), percentile(r.latency, 0.95)
        cost_p95 = percentile(r.poll_cpu, 0.95)
        cost_ok, cost_p95_ok = cost <= POLL_CPU_TARGET, cost_p95 <= POLL_CPU_P95_TARGET
        latency_ok = p95 <= budget
        passed = passed and cost_ok and cost_p95_ok and latency_ok
        print(f"poll cost {r.nodes} nodes: median {cost * 1000:.1f} ms CPU "
              f"({cost / base_cost:.1f}x the {base.nodes}-node poll), "
              f"target <= {POLL_CPU_TARGET * 1000:.0f} ms: {verdict(cost_ok)}")
        print(f"poll cost p95 {r.nodes} nodes: {cost_p95 * 1000:.1f} ms CPU "
              f"({cost_p95 / cost:.1f}x its median), "
              f"target <= {POLL_CPU_P95_TARGET * 1000:.0f} ms: {verdict(cost_p95_ok)}")
        print(f"ws latency {r.nodes} nodes: p50 {statistics.median(r.latency):.3f} s, "
              f"p95 {p95:.3f} s ({p95 / budget:.2f}x interval + {LATENCY_SLACK:g} s), "
              f"target <= {budget:.2f} s: {verdict(latency_ok)}")
    return passed


def prepare_django(work: Path, redis_url: str, database: str | None = None) -> None:
    """Django on `database` (a URL; SQLite in `work` by default), migrated."""
    os.environ.update(
        ARTHUR_VAR_DIR=str(work / "var"),
        DATABASE_URL=database or f"sqlite:///{work / 'db.sqlite3'}",
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="arthur_panel.settings",
        LOG_LEVEL="WARNING",
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def open_work_dir(exits: ExitStack, *, keep: bool) -> Path:
    """A temporary directory, removed at the end unless `keep`; a plain `kill` unwinds the
    ExitStack too, so no simulator, worker or Redis is left over."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="arthur-bench-") if keep
                else exits.enter_context(tempfile.TemporaryDirectory(prefix="arthur-bench-")))
    print(f"work dir {work}", flush=True)
    return work


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--polls", type=int, default=50, help="timed polls per size")
    parser.add_argument("--changes", type=int, default=20, help="timed changes per size")
    parser.add_argument("--interval", type=float, default=1.0, help="CLUSTER_POLL_SECONDS")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="print where the largest size's poll spends its CPU")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and its logs")
    args = parser.parse_args()
    with ExitStack() as exits:
        work = open_work_dir(exits, keep=args.keep)
        prepare_django(work, start_redis(exits, work))
        token = issue_token()
        results = []
        for count in sorted(args.sizes):
            profile = args.profile and count == max(args.sizes)
            results.append(measure_size(work, count, args, token, profile))
        return 0 if report(results, args.interval) else 1


if __name__ == "__main__":
    sys.exit(main())
