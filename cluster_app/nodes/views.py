"""The dashboard, the cluster page and a page per node."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from cluster_app.models import Node


def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/dashboard.html", {"nodes": Node.objects.all()})


def cluster(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/cluster.html")


def node_page(request: HttpRequest, name: str) -> HttpResponse:
    return render(request, "cluster_app/node.html", {"node": get_object_or_404(Node, name=name)})
