"""Model benchmark arithmetic, pure: the matrix of prompt and answer lengths, the figures of one
run from exo's bench answer, medians per placement and cell, and the guide's verdicts (its
Expected Inference Speed, its RDMA speed-up and its parallelism overheads)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

DEFAULT_PROMPT_LENGTHS = (512, 2048, 8192)
DEFAULT_GENERATION_LENGTHS = (128, 500)
DEFAULT_RUNS = 3
# Share of the guide's tokens/s a measurement needs: all of it "meets", four fifths "near".
MEETS_SHARE, NEAR_SHARE = 1.0, 0.8
MEETS, NEAR, MISSES = "meets", "near", "misses"
# The guide's "RDMA Impact on DeepSeek V3": ~2-3x speed-up, parallelism overhead per link.
GUIDE_RDMA_SPEEDUP = (2.0, 3.0)
GUIDE_OVERHEADS = {"MlxJaccl": (0.10, 0.15), "MlxRing": (0.30, 0.40)}
JOULES_PER_KWH = 3_600_000
CHARS_PER_TOKEN = 4  # English text with a BPE tokenizer, about
FILLER = ("The cluster of two Mac Studios joined by Thunderbolt answers this benchmark prompt "
          "while the panel measures how fast it reads and writes tokens. ")
# The order placements run and show in: one node first (the overhead's reference), then the
# slowest link's to the fastest's.
SHARDINGS, BACKENDS = ("Pipeline", "Tensor"), ("MlxRing", "MlxJaccl")


class MatrixError(ValueError):
    """A matrix with no cell that fits the model."""


@dataclass(frozen=True)
class Placement:
    sharding: str  # Pipeline or Tensor
    instance_meta: str  # MlxRing (TCP) or MlxJaccl (RDMA)
    nodes: int

    @property
    def key(self) -> str:
        return f"{self.sharding}/{self.instance_meta}/{self.nodes}"

    @property
    def label(self) -> str:
        link = "RDMA" if self.instance_meta == "MlxJaccl" else "TCP"
        where = "one node" if self.nodes == 1 else f"{self.nodes} nodes"
        return f"{self.sharding}, {self.instance_meta} ({link}), {where}"

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.nodes, SHARDINGS.index(self.sharding) if self.sharding in SHARDINGS else 9,
                BACKENDS.index(self.instance_meta) if self.instance_meta in BACKENDS else 9)


@dataclass(frozen=True)
class Cell:
    prompt_length: int  # tokens asked for
    generation_length: int  # max_tokens
    run: int  # 1-based


@dataclass(frozen=True)
class Figures:
    """One run as exo measured it, and what its energy costs."""

    prompt_tokens: int
    generation_tokens: int
    prefill_tps: float
    generation_tps: float
    first_token_seconds: float | None
    peak_memory_bytes: int
    energy_joules: float | None
    joules_per_token: float | None  # the request's energy over the tokens it generated
    cost_per_million_usd: float | None  # that energy for a million generated tokens


@dataclass(frozen=True)
class Run:
    placement: Placement
    cell: Cell
    figures: Figures


def matrix(prompt_lengths: Iterable[int], generation_lengths: Iterable[int], runs: int,
           context_length: int | None) -> list[Cell]:
    """Every prompt length x answer length x run whose prompt and answer fit the model's
    context; MatrixError when none does."""
    cells = [Cell(p, g, r) for p in sorted(set(prompt_lengths))
             for g in sorted(set(generation_lengths)) for r in range(1, runs + 1)
             if not context_length or p + g <= context_length]
    if not cells:
        raise MatrixError(f"No prompt and answer length fits the model's context of "
                          f"{context_length} tokens.")
    return cells


def prompt_text(tokens: int, salt: str) -> str:
    """About `tokens` tokens of plain text that start with `salt`, so that no two runs share
    a prefix exo could have cached."""
    chars = max(1, tokens) * CHARS_PER_TOKEN
    body = f"[{salt}] " + FILLER * (chars // len(FILLER) + 1)
    return body[:chars]


def placement_of(tagged: Any) -> Placement | None:
    """The placement an exo instance (`{"MlxJacclInstance": {...}}`) really is: exo's
    previews ask for Tensor over RDMA on one node too, and get a pipeline over a ring."""
    if not isinstance(tagged, Mapping) or len(tagged) != 1:
        return None
    tag, body = next(iter(tagged.items()))
    assignments = body.get("shardAssignments") if isinstance(body, Mapping) else None
    if not isinstance(assignments, Mapping):
        return None
    shards = list((assignments.get("runnerToShard") or {}).values())
    tensor = any(isinstance(s, Mapping) and "TensorShardMetadata" in s for s in shards)
    nodes = len(assignments.get("nodeToRunner") or {})
    return Placement("Tensor" if tensor else "Pipeline", str(tag).removesuffix("Instance"),
                     nodes) if nodes else None


def placements_from_previews(previews: Iterable[Mapping[str, Any]]) -> list[Placement]:
    """The distinct placements exo offers for a model (its refusals left out), one node first."""
    found = {p for preview in previews if not preview.get("error")
             if (p := placement_of(preview.get("instance"))) is not None}
    return sorted(found, key=lambda p: p.order)


def run_figures(answer: Mapping[str, Any], price_per_kwh: float) -> Figures:
    """The figures of one `POST /bench/chat/completions` answer. The first token is the
    prefill phase exo timed (main's power usage) or else the prompt over the prefill rate."""
    stats = answer.get("generation_stats")
    if not isinstance(stats, Mapping):
        raise ValueError("exo's bench answer has no generation_stats")
    prompt_tokens = int(stats.get("prompt_tokens") or 0)
    generated = int(stats.get("generation_tokens") or 0)
    prefill_tps = float(stats.get("prompt_tps") or 0.0)
    raw_power = answer.get("power_usage")
    power: Mapping[str, Any] = raw_power if isinstance(raw_power, Mapping) else {}
    first = power.get("prefill_seconds")
    if first is None and prefill_tps > 0:
        first = prompt_tokens / prefill_tps
    memory = stats.get("peak_memory_usage")
    if isinstance(memory, Mapping):
        memory = memory.get("inBytes")
    energy = power.get("total_energy_joules")
    per_token = energy / generated if energy is not None and generated else None
    return Figures(
        prompt_tokens=prompt_tokens, generation_tokens=generated, prefill_tps=prefill_tps,
        generation_tps=float(stats.get("generation_tps") or 0.0),
        first_token_seconds=None if first is None else float(first),
        peak_memory_bytes=int(memory or 0),
        energy_joules=None if energy is None else float(energy),
        joules_per_token=per_token,
        cost_per_million_usd=(None if per_token is None
                              else cost_per_million(per_token, price_per_kwh)))


def cost_per_million(joules_per_token: float, price_per_kwh: float) -> float:
    """The electricity of a million tokens at `joules_per_token`, in the price's currency."""
    return joules_per_token * 1_000_000 / JOULES_PER_KWH * price_per_kwh


def verdict(measured: float | None, expected: float | None) -> str | None:
    """meets (>= 100% of the guide's figure), near (>= 80%), misses; None without both."""
    if measured is None or not expected:
        return None
    share = measured / expected
    return MEETS if share >= MEETS_SHARE else NEAR if share >= NEAR_SHARE else MISSES


def median_of(values: Iterable[float | None]) -> float | None:
    """The median of the values present; None when there is none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


MEDIAN_FIELDS = ("prompt_tokens", "generation_tokens", "prefill_tps", "generation_tps",
                 "first_token_seconds", "peak_memory_bytes", "energy_joules", "joules_per_token",
                 "cost_per_million_usd")


def _medians(runs: Sequence[Run]) -> dict[str, float | None]:
    return {name: median_of(getattr(r.figures, name) for r in runs) for name in MEDIAN_FIELDS}


def cells(runs: Iterable[Run]) -> list[dict[str, Any]]:
    """Medians per placement and (prompt length, answer length), in the placements' order."""
    def key(run: Run) -> tuple[tuple[int, int, int], str, int, int]:
        return (run.placement.order, run.placement.key, run.cell.prompt_length,
                run.cell.generation_length)

    rows = []
    for _, group in groupby(sorted(runs, key=key), key=key):
        members = list(group)
        first = members[0]
        rows.append({"placement": first.placement.key, "prompt_length": first.cell.prompt_length,
                     "generation_length": first.cell.generation_length, "runs": len(members),
                     **_medians(members)})
    return rows


def placements(runs: Iterable[Run], expected_tps: float | None) -> list[dict[str, Any]]:
    """Per placement: medians over all its runs and its verdict against the guide's tokens/s."""
    def key(run: Run) -> tuple[tuple[int, int, int], str]:
        return run.placement.order, run.placement.key

    rows = []
    for _, group in groupby(sorted(runs, key=key), key=key):
        members = list(group)
        placement = members[0].placement
        medians = _medians(members)
        rows.append({"placement": placement.key, "label": placement.label,
                     "sharding": placement.sharding, "instance_meta": placement.instance_meta,
                     "nodes": placement.nodes, "runs": len(members), **medians,
                     "expected_tps": expected_tps,
                     "verdict": verdict(medians["generation_tps"], expected_tps)})
    return rows


def rdma_ratios(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For each sharding and node count measured over both links: RDMA's generation speed
    over TCP's, and whether it reaches the guide's 2-3x."""
    speeds = {(r["sharding"], r["nodes"], r["instance_meta"]): r["generation_tps"] for r in rows}
    result = []
    for (sharding, nodes, meta), rdma in sorted(speeds.items()):
        tcp = speeds.get((sharding, nodes, "MlxRing"))
        if meta != "MlxJaccl" or not rdma or not tcp:
            continue
        ratio = rdma / tcp
        low, high = GUIDE_RDMA_SPEEDUP
        result.append({"sharding": sharding, "nodes": nodes, "rdma_tps": rdma, "tcp_tps": tcp,
                       "ratio": ratio, "guide": [low, high],
                       "against_guide": "below" if ratio < low else
                       "within" if ratio <= high else "above"})
    return result


def overheads(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For each multi-node placement: the share of the single-node generation speed it lost,
    beside the guide's range for its link. None without a single-node measurement."""
    listed = list(rows)
    single = next((r["generation_tps"] for r in listed if r["nodes"] == 1), None)
    if not single:
        return []
    result = []
    for row in listed:
        if row["nodes"] < 2 or row["generation_tps"] is None:
            continue
        lost = 1.0 - row["generation_tps"] / single
        low, high = GUIDE_OVERHEADS.get(row["instance_meta"], GUIDE_OVERHEADS["MlxRing"])
        result.append({"placement": row["placement"], "overhead": lost, "guide": [low, high],
                       "against_guide": "below" if lost < low else
                       "within" if lost <= high else "above"})
    return result


def model_verdict(rows: Sequence[Mapping[str, Any]], expected_tps: float | None
                  ) -> dict[str, Any]:
    """The model's verdict: its best placement's generation speed against the guide's."""
    measured = [r for r in rows if r["generation_tps"] is not None]
    best = max(measured, key=lambda r: r["generation_tps"], default=None)
    tps = best["generation_tps"] if best else None
    return {"placement": best["placement"] if best else None, "generation_tps": tps,
            "expected_tps": expected_tps, "verdict": verdict(tps, expected_tps)}


def curves(runs: Iterable[Run]) -> list[dict[str, Any]]:
    """Per placement, by prompt length (all answer lengths together): the median generation
    and prefill speeds, for the plots."""
    by_placement: dict[Placement, dict[int, list[Figures]]] = {}
    for run in runs:
        by_placement.setdefault(run.placement, {}).setdefault(
            run.cell.prompt_length, []).append(run.figures)
    return [{"placement": placement.key, "label": placement.label,
             "sharding": placement.sharding, "instance_meta": placement.instance_meta,
             "nodes": placement.nodes,
             "points": [{"prompt_length": length,
                         "generation_tps": median_of(f.generation_tps for f in found),
                         "prefill_tps": median_of(f.prefill_tps for f in found)}
                        for length, found in sorted(by_placement[placement].items())]}
            for placement in sorted(by_placement, key=lambda p: p.order)]


def ratio_curves(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per sharding and node count measured over both links: RDMA's generation speed over
    TCP's at each prompt length both measured (`lines` as `curves` gives them)."""
    speeds = {(line["sharding"], line["nodes"], line["instance_meta"]):
              {p["prompt_length"]: p["generation_tps"] for p in line["points"]} for line in lines}
    result = []
    for (sharding, nodes, meta), rdma in sorted(speeds.items()):
        tcp = speeds.get((sharding, nodes, "MlxRing"), {})
        points = [{"prompt_length": length, "ratio": speed / tcp[length]}
                  for length, speed in sorted(rdma.items()) if speed and tcp.get(length)]
        if meta == "MlxJaccl" and points:
            result.append({"sharding": sharding, "nodes": nodes, "points": points})
    return result
