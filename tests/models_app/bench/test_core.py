"""The benchmark's arithmetic: matrix, one run's figures, medians, verdicts, ratios, costs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models_app.bench import core
from models_app.bench.core import Cell, Figures, Placement, Run

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "exo_samples" / "main"
ONE = Placement("Pipeline", "MlxRing", 1)
TCP = Placement("Tensor", "MlxRing", 2)
RDMA = Placement("Tensor", "MlxJaccl", 2)


def figures(generation_tps: float, prefill_tps: float = 1000.0,
            cost: float | None = 0.5) -> Figures:
    return Figures(512, 128, prefill_tps, generation_tps, 0.5, 10**9, 100.0, 0.78, cost)


def run(placement: Placement, generation_tps: float, prompt: int = 512, number: int = 1,
        **extra: float) -> Run:
    return Run(placement, Cell(prompt, 128, number), figures(generation_tps, **extra))


def test_the_matrix_is_every_length_pair_and_run_that_fits_the_context() -> None:
    cells = core.matrix([2048, 512, 8192], [500, 128], 2, context_length=8192)
    assert len(cells) == 2 * 2 * 2  # 8192 + any answer is over the context
    assert cells[0] == Cell(512, 128, 1) and cells[-1] == Cell(2048, 500, 2)
    assert len(core.matrix([8192], [128], 1, context_length=None)) == 1
    with pytest.raises(core.MatrixError, match="context of 1024"):
        core.matrix([2048], [128], 1, context_length=1024)


def test_a_prompt_is_about_four_characters_a_token_and_starts_with_its_salt() -> None:
    text = core.prompt_text(512, "run 3")
    assert len(text) == 2048 and text.startswith("[run 3] ")


def test_figures_come_from_exos_stats_and_power() -> None:
    answer = {"generation_stats": {"prompt_tps": 2000.0, "generation_tps": 150.0,
                                   "prompt_tokens": 1000, "generation_tokens": 100,
                                   "peak_memory_usage": {"inBytes": 5}},
              "power_usage": {"total_energy_joules": 360.0}}
    got = core.run_figures(answer, price_per_kwh=0.30)
    assert got.first_token_seconds == 0.5  # 1000 tokens at 2000 tok/s: 1.0.71 has no phases
    assert got.peak_memory_bytes == 5 and got.joules_per_token == 3.6
    # 3.6 J a token is a kWh per million tokens: 30 cents.
    assert got.cost_per_million_usd == pytest.approx(0.30)
    answer["power_usage"]["prefill_seconds"] = 0.7  # main times the prefill itself
    assert core.run_figures(answer, 0.30).first_token_seconds == 0.7
    with pytest.raises(ValueError, match="generation_stats"):
        core.run_figures({"generation_stats": None}, 0.30)


def test_placements_are_what_exo_would_make_deduplicated_one_node_first() -> None:
    previews = json.loads((SAMPLES / "previews_70b.json").read_text())["previews"]
    found = core.placements_from_previews(previews)
    assert [p.key for p in found] == ["Pipeline/MlxRing/1", "Pipeline/MlxRing/2",
                                      "Pipeline/MlxJaccl/2", "Tensor/MlxRing/2",
                                      "Tensor/MlxJaccl/2"]
    refused = {"error": "No cycles found", "instance": None}
    assert core.placements_from_previews([refused]) == []


@pytest.mark.parametrize(("measured", "expected"), [
    (161.5, "meets"), (200.0, "meets"), (129.3, "near"), (129.1, "misses"), (None, None)])
def test_the_verdict_against_the_guides_figure(measured: float | None,
                                               expected: str | None) -> None:
    assert core.verdict(measured, 161.5) == expected
    assert core.verdict(100.0, None) is None


def test_medians_per_placement_and_cell() -> None:
    runs = [run(RDMA, tps, number=i) for i, tps in enumerate((140.0, 150.0, 100.0), 1)]
    runs += [run(RDMA, 90.0, prompt=2048), run(ONE, 160.0)]
    cells = core.cells(runs)
    assert [(c["placement"], c["prompt_length"], c["runs"]) for c in cells] == [
        ("Pipeline/MlxRing/1", 512, 1), ("Tensor/MlxJaccl/2", 512, 3),
        ("Tensor/MlxJaccl/2", 2048, 1)]
    assert cells[1]["generation_tps"] == 140.0
    rows = core.placements(runs, expected_tps=161.5)
    assert [(r["placement"], r["generation_tps"], r["verdict"]) for r in rows] == [
        ("Pipeline/MlxRing/1", 160.0, "near"), ("Tensor/MlxJaccl/2", 120.0, "misses")]


def test_rdma_over_tcp_and_the_overheads_against_the_guide() -> None:
    rows = core.placements([run(ONE, 200.0), run(TCP, 130.0), run(RDMA, 175.0)], 161.5)
    ratios = core.rdma_ratios(rows)
    assert len(ratios) == 1 and ratios[0]["ratio"] == pytest.approx(175 / 130)
    assert ratios[0]["against_guide"] == "below"  # the guide says 2-3x
    overheads = {o["placement"]: o for o in core.overheads(rows)}
    assert overheads["Tensor/MlxJaccl/2"]["overhead"] == pytest.approx(0.125)
    assert overheads["Tensor/MlxJaccl/2"]["against_guide"] == "within"  # 10-15%
    assert overheads["Tensor/MlxRing/2"]["overhead"] == pytest.approx(0.35)
    assert core.overheads(core.placements([run(RDMA, 175.0)], None)) == []
    best = core.model_verdict(rows, 161.5)
    assert best["placement"] == "Pipeline/MlxRing/1" and best["verdict"] == "meets"
