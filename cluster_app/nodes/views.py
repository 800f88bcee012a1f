"""The dashboard and the cluster page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cluster_app.models import Node


def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/dashboard.html", {"nodes": Node.objects.all()})


def cluster(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/cluster.html")
