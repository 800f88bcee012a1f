"""The Logs page: live lines from every node; the lines themselves come over /ws/logs/."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cluster_app.logs.classify import GUIDE_FILTER
from cluster_app.logs.follow import followed_paths
from cluster_app.models import Node

# Filter toggles, in CLASSES order: class name and what the page calls it.
CLASS_LABELS = [("jaccl", "JACCL"), ("rdma", "RDMA/IBV"), ("distributed", "distributed"),
                ("ring", "ring"), ("metal", "Metal"), ("error", "errors"), ("warning", "warnings")]


def logs_page(request: HttpRequest) -> HttpResponse:
    nodes = list(Node.objects.all())
    # What `follow_logs` follows by default: every node with exo log files.
    followed = [{"node": node, "files": followed_paths(node)} for node in nodes
                if node.exo_log_files]
    return render(request, "cluster_app/logs.html", {
        "nodes": nodes, "followed": followed, "classes": CLASS_LABELS,
        "guide_filter": GUIDE_FILTER})
