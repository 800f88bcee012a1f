"""The Benchmarks page: start a model benchmark, follow its job, the newest result per
placement against the guide with its plots, the history and its CSV."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cluster_app.jobs.reporter import job_payload
from cluster_app.models import Job
from models_app.bench import core, selectors
from models_app.bench.api import BenchmarkDetailSerializer, benchmark_list
from models_app.bench.services import KIND
from models_app.models import Benchmark, LlmModel


def benchmarks_page(request: HttpRequest) -> HttpResponse:
    running = (Job.objects.select_related("node", "created_by")
               .filter(kind=KIND, state__in=Job.ACTIVE).first())
    newest = selectors.benchmarks().first()
    models = LlmModel.objects.order_by("size_bytes").values(
        "slug", "display_name", "expected_tokens_per_second", "context_length")
    page = {
        "benchmarks": benchmark_list(),
        "selected": BenchmarkDetailSerializer(newest).data if newest else None,
        "running_job": job_payload(running) if running else None,
        "models": list(models),
    }
    return render(request, "models_app/benchmarks.html", {
        "page": page, "models": models, "modes": Benchmark.Mode.choices,
        "defaults": {"prompt_lengths": ", ".join(map(str, core.DEFAULT_PROMPT_LENGTHS)),
                     "generation_lengths": ", ".join(map(str, core.DEFAULT_GENERATION_LENGTHS)),
                     "runs": core.DEFAULT_RUNS}})
