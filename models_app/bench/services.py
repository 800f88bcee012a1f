"""Benchmark writes: starting one (its row and its job together) and recording a run."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from arthur_panel.exceptions import Conflict, DomainError
from cluster_app.jobs import services as jobs
from cluster_app.models import Job
from models_app.bench import core
from models_app.catalogue.selectors import model_named
from models_app.models import Benchmark, BenchmarkRun

KIND = "model.bench"
# One benchmark at a time: two would share the cluster and slow each other down.
DEDUPE_KEY = "model.bench"


def benchmark_start(*, model: str, mode: str, prompt_lengths: list[int],
                    generation_lengths: list[int], runs: int, instance_id: str = "",
                    user: Any = None) -> Benchmark:
    """Create the benchmark and queue its job; Conflict while another one is active,
    DomainError when no prompt and answer length fits the model's context."""
    llm = model_named(model)
    try:
        core.matrix(prompt_lengths, generation_lengths, runs, llm.context_length)
    except core.MatrixError as error:
        raise DomainError(str(error), code="matrix_too_large") from None
    if running := Job.objects.filter(kind=KIND, state__in=Job.ACTIVE).first():
        raise Conflict(f"Benchmark job {running.pk} is still {running.state}: one benchmark "
                       "runs at a time (cancel it first).", code="benchmark_running")
    with transaction.atomic():
        benchmark = Benchmark.objects.create(
            model_id=llm.exo_model_id or llm.repo_id, slug=llm.slug, mode=mode,
            prompt_lengths=sorted(set(prompt_lengths)),
            generation_lengths=sorted(set(generation_lengths)), runs_per_cell=runs,
            expected_tokens_per_second=llm.expected_tokens_per_second,
            electricity_usd_per_kwh=Decimal(str(settings.ELECTRICITY_PRICE_PER_KWH)),
            created_by=user)
        params = {"benchmark": benchmark.pk, "instance_id": instance_id}
        job, created = jobs.job_create(kind=KIND, node=None, params=params, user=user,
                                       dedupe_key=DEDUPE_KEY)
        if not created:  # another request started one in the meantime
            raise Conflict(f"Benchmark job {job.pk} is still {job.state}: one benchmark runs "
                           "at a time (cancel it first).", code="benchmark_running")
        benchmark.job = job
        benchmark.save(update_fields=["job"])
    return benchmark


def benchmark_run_record(*, benchmark: Benchmark, placement: core.Placement,
                         node_names: list[str], cell: core.Cell,
                         figures: core.Figures) -> BenchmarkRun:
    return BenchmarkRun.objects.create(
        benchmark=benchmark, sharding=placement.sharding,
        instance_meta=placement.instance_meta, node_count=placement.nodes,
        node_names=node_names, prompt_length=cell.prompt_length,
        generation_length=cell.generation_length, run=cell.run,
        prompt_tokens=figures.prompt_tokens, generation_tokens=figures.generation_tokens,
        prefill_tps=figures.prefill_tps, generation_tps=figures.generation_tps,
        first_token_seconds=figures.first_token_seconds,
        peak_memory_bytes=figures.peak_memory_bytes, energy_joules=figures.energy_joules,
        joules_per_token=figures.joules_per_token,
        cost_per_million_usd=figures.cost_per_million_usd)
