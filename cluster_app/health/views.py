"""The Health page: the checklist with its evidence, the doctor's checks of the deployment,
and buttons that run either now."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cluster_app.health.doctor import doctor_report
from cluster_app.health.services import health_report


def health(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/health.html",
                  {"report": health_report(), "doctor": doctor_report()})
