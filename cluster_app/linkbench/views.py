"""The Link benchmark page: run the probe, the latest result plotted against the guide's figures,
and the history."""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cluster_app.jobs.reporter import job_payload
from cluster_app.linkbench import core
from cluster_app.linkbench.api import recent_benchmarks
from cluster_app.linkbench.job import KIND, linkbench_plan
from cluster_app.models import Job


def linkbench_page(request: HttpRequest) -> HttpResponse:
    running = (Job.objects.select_related("node", "created_by")
               .filter(kind=KIND, state__in=Job.ACTIVE).first())
    page = {
        "results": recent_benchmarks(),
        "running_job": job_payload(running) if running else None,
        "expectations": {link: asdict(figures) for link, figures in core.EXPECTATIONS.items()},
    }
    return render(request, "cluster_app/linkbench.html",
                  {"page": page, "auto": linkbench_plan("auto").reason,
                   "backends": core.BACKENDS})
