from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.generic import TemplateView

from cluster_app.models import Job, Node


def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/dashboard.html", {"nodes": Node.objects.all()})


def cluster(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/cluster.html")


def job_list(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/job_list.html", {"nodes": Node.objects.all()})


def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(Job.objects.select_related("node"), pk=job_id)
    return render(request, "cluster_app/job_detail.html", {"job": job})


class PlannedPage(TemplateView):
    """A navigation entry whose page is not built yet: says what it will do."""

    template_name = "planned.html"
    title = ""
    summary = ""

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        return {**super().get_context_data(**kwargs), "title": self.title, "summary": self.summary}
