"""Benchmark reads: a benchmark's runs as the pure core's records, its summary, the history,
the newest measured cost per model and the CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from models_app.bench import core
from models_app.models import Benchmark, BenchmarkRun

CSV_FIELDS = ("benchmark", "model_id", "sharding", "instance_meta", "node_count", "nodes",
              "prompt_length", "generation_length", "run", "prompt_tokens", "generation_tokens",
              "prefill_tps", "generation_tps", "first_token_seconds", "peak_memory_bytes",
              "energy_joules", "joules_per_token", "cost_per_million_usd", "created_at")


def benchmarks(*, model: str = "") -> QuerySet[Benchmark]:
    """Newest first, with their jobs; only the model's (slug or exo id) when given."""
    found = Benchmark.objects.select_related("job", "job__node", "created_by")
    if model:
        found = found.filter(slug=model) | found.filter(model_id=model)
    return found


def runs_of(benchmark: Benchmark) -> list[core.Run]:
    return [to_run(row) for row in benchmark.runs.all()]


def to_run(row: BenchmarkRun) -> core.Run:
    return core.Run(
        core.Placement(row.sharding, row.instance_meta, row.node_count),
        core.Cell(row.prompt_length, row.generation_length, row.run),
        core.Figures(row.prompt_tokens, row.generation_tokens, row.prefill_tps,
                     row.generation_tps, row.first_token_seconds, row.peak_memory_bytes,
                     row.energy_joules, row.joules_per_token, row.cost_per_million_usd))


def summary(benchmark: Benchmark) -> dict[str, Any]:
    """Medians per placement and cell, and the guide's verdicts, ratios and overheads."""
    runs = runs_of(benchmark)
    expected = benchmark.expected_tokens_per_second
    placements = core.placements(runs, expected)
    lines = core.curves(runs)
    return {
        "placements": placements,
        "cells": core.cells(runs),
        "curves": lines,
        "ratio_curves": core.ratio_curves(lines),
        "verdict": core.model_verdict(placements, expected),
        "rdma_ratios": core.rdma_ratios(placements),
        "overheads": core.overheads(placements),
        "guide": {"tokens_per_second": expected,
                  "verdict_shares": {"meets": core.MEETS_SHARE, "near": core.NEAR_SHARE},
                  "rdma_speedup": list(core.GUIDE_RDMA_SPEEDUP),
                  "overheads": {k: list(v) for k, v in core.GUIDE_OVERHEADS.items()}},
    }


def newest_costs(model_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per exo model id with a benchmark that measured energy: the newest such benchmark's
    median cost per million generated tokens on its cheapest placement, with its id and price."""
    found: dict[str, dict[str, Any]] = {}
    measured = (Benchmark.objects.filter(model_id__in=set(model_ids),
                                         runs__cost_per_million_usd__isnull=False)
                .distinct().order_by("-created_at", "-id"))
    for benchmark in measured:
        if benchmark.model_id in found:
            continue  # newest first: the first one seen is the newest
        rows = [r for r in core.placements(runs_of(benchmark), None)
                if r["cost_per_million_usd"] is not None]
        cheapest = min(rows, key=lambda r: r["cost_per_million_usd"])
        found[benchmark.model_id] = {
            "benchmark": benchmark.pk, "at": benchmark.created_at.isoformat(),
            "cost_per_million_usd": cheapest["cost_per_million_usd"],
            "placement": cheapest["label"],
            "electricity_usd_per_kwh": str(benchmark.electricity_usd_per_kwh)}
    return found


def csv_text(rows: Iterable[BenchmarkRun]) -> str:
    """Every run, one line each, with a header."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for row in rows:
        writer.writerow([row.benchmark_id, row.benchmark.model_id, row.sharding,
                         row.instance_meta, row.node_count, " ".join(row.node_names),
                         row.prompt_length, row.generation_length, row.run, row.prompt_tokens,
                         row.generation_tokens, row.prefill_tps, row.generation_tps,
                         _blank(row.first_token_seconds), row.peak_memory_bytes,
                         _blank(row.energy_joules), _blank(row.joules_per_token),
                         _blank(row.cost_per_million_usd), row.created_at.isoformat()])
    return out.getvalue()


def _blank(value: float | None) -> Any:
    return "" if value is None else value
