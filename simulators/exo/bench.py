"""``POST /bench/chat/completions``: a chat answer with exo's ``generation_stats`` and the power
the cluster drew meanwhile (``power_usage``: every node's sysPower sampled each second and
integrated; main also splits it into prefill and generation)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .chat import chat_request, completion, stream_response
from .cluster import Cluster
from .errors import ApiError, Unhandled
from .generation import Failure, Finished, Generations, Token, generate, stats

SAMPLE_SECONDS = 1.0  # exo's PowerSampler interval

Samples = list[tuple[float, float]]  # (seconds since start, watts)


def energy(samples: Samples, start: float, end: float) -> float:
    """Joules over [start, end]: the trapezoid rule on the samples, power interpolated at the
    ends, constant when there is one sample."""
    if end <= start or not samples:
        return 0.0
    if len(samples) == 1:
        return samples[0][1] * (end - start)

    def power_at(t: float) -> float:
        if t <= samples[0][0]:
            return samples[0][1]
        for (t0, p0), (t1, p1) in itertools.pairwise(samples):
            if t <= t1:
                return p0 if t1 == t0 else p0 + (t - t0) / (t1 - t0) * (p1 - p0)
        return samples[-1][1]

    points = [(start, power_at(start)), *[(t, p) for t, p in samples if start < t < end],
              (end, power_at(end))]
    return sum((p0 + p1) / 2 * (t1 - t0)
               for (t0, p0), (t1, p1) in itertools.pairwise(points))


class PowerSampler:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.started = time.monotonic()
        self.samples: dict[str, Samples] = {}
        self.prefill_done: float | None = None
        self.sample()

    def sample(self) -> float:
        now = time.monotonic() - self.started
        for node in self.cluster.nodes:
            self.samples.setdefault(node.node_id, []).append((now, node.system["sysPower"]))
        return now

    async def run(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self.sample()

    def mark_prefill_done(self) -> None:
        if self.prefill_done is None:
            self.prefill_done = self.sample()

    def result(self, split_phases: bool) -> dict[str, Any]:
        elapsed = self.sample()
        split = None if self.prefill_done is None else min(elapsed, self.prefill_done)
        nodes, total, prefill, generation = [], 0.0, 0.0, 0.0
        for node_id, samples in self.samples.items():
            joules = energy(samples, 0.0, elapsed)
            total += joules
            entry: dict[str, Any] = {"node_id": node_id, "samples": len(samples),
                                     "avg_sys_power": joules / elapsed if elapsed > 0 else 0.0}
            if split_phases:
                before = energy(samples, 0.0, split) if split is not None else None
                after = energy(samples, split, elapsed) if split is not None else None
                prefill += before or 0.0
                generation += after or 0.0
                entry.update(
                    prefill_avg_sys_power=_average(before, split),
                    generation_avg_sys_power=_average(after, elapsed - (split or 0.0)),
                    prefill_energy_joules=before, generation_energy_joules=after)
            nodes.append(entry)
        usage: dict[str, Any] = {
            "elapsed_seconds": elapsed,
            "nodes": nodes,
            "total_avg_sys_power_watts": total / elapsed if elapsed > 0 else 0.0,
            "total_energy_joules": total,
        }
        if split_phases:
            # No token at all: exo leaves the phases unknown.
            phases = (split, elapsed - split, prefill, generation) if split is not None else (
                None, None, None, None)
            usage.update(
                prefill_seconds=phases[0], generation_seconds=phases[1],
                prefill_energy_joules=phases[2], generation_energy_joules=phases[3],
                prefill_avg_sys_power_watts=_average(phases[2], phases[0]),
                generation_avg_sys_power_watts=_average(phases[3], phases[1]))
        return usage


def _average(joules: float | None, seconds: float | None) -> float | None:
    if joules is None or seconds is None:
        return None
    return joules / seconds if seconds > 0 else 0.0


async def bench_chat(request: Request, cluster: Cluster, registry: Generations) -> Response:
    body, generation = await chat_request(request, cluster)
    if body.get("stream") and cluster.wire.main:
        return stream_response(generation, registry)
    sampler = PowerSampler(cluster)
    sampling = asyncio.create_task(sampler.run())
    tokens: list[Token] = []
    finish: Finished | None = None
    try:
        async for event in generate(generation, registry):
            if isinstance(event, Failure):
                raise ApiError(500, event.message)
            if isinstance(event, Token):
                sampler.mark_prefill_done()
                tokens.append(event)
            elif isinstance(event, Finished):
                finish = event
    finally:
        sampling.cancel()
    if not tokens and finish is None:
        raise Unhandled("the command closed before its first token")
    answer = completion(generation, tokens, finish)
    answer["usage"] = None  # exo's bench answer carries its stats instead
    # FastAPI writes a returned model by its aliases (Memory's inBytes), where the stream's
    # `: generation_stats` comment is a plain model_dump_json (in_bytes).
    answer["generation_stats"] = {**stats(finish), "peak_memory_usage": {
        "inBytes": finish.peak_memory}} if finish else None
    answer["power_usage"] = sampler.result(split_phases=cluster.wire.main)
    return JSONResponse(answer)
