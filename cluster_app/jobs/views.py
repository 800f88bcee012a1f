"""The jobs pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from cluster_app.models import Job, Node


def job_list(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/job_list.html", {"nodes": Node.objects.all()})


def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(Job.objects.select_related("node"), pk=job_id)
    return render(request, "cluster_app/job_detail.html", {"job": job})
