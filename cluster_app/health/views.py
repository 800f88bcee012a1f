"""The Health page: the checklist with its evidence, and a button that runs the checks now."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cluster_app.health.services import health_report


def health(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/health.html", {"report": health_report()})
