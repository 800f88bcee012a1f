"""The Downloads page's model x node matrix: the panel's own jobs, and what exo reports."""

from __future__ import annotations

from typing import Any

from cluster_app.jobs.reporter import job_payload
from cluster_app.models import Job, Node
from cluster_app.nodes.poll import cluster_snapshot
from models_app.downloads.jobs import DELETE, DOWNLOAD
from models_app.models import LlmModel


def _latest_jobs() -> dict[tuple[str, str], Job]:
    """(repo id, node) -> the newest download or delete job."""
    latest: dict[tuple[str, str], Job] = {}
    jobs = Job.objects.filter(kind__in=[DOWNLOAD, DELETE]).select_related("node").order_by("id")
    for job in jobs:
        if job.node:
            latest[(job.params.get("repo_id", ""), job.node.name)] = job
    return latest


def _exo_cell(entry: dict[str, Any]) -> dict[str, Any]:
    total = entry.get("total") or 0
    state = entry["status"]
    if state == "pending":
        # exo lists every catalogue model as pending; with bytes on disk it is a paused one.
        if not entry.get("downloaded"):
            return {"source": None, "state": "absent"}
        state = "paused"
    return {"source": "exo", "state": state, "done": entry.get("downloaded") or 0,
            "total": total, "progress": (entry.get("downloaded") or 0) / total if total else 0.0,
            "speed": entry.get("speed"), "eta_seconds": (entry["eta_ms"] / 1000)
            if entry.get("eta_ms") else None, "message": entry.get("error") or ""}


def _job_cell(job: Job) -> dict[str, Any]:
    state = job.state
    if job.kind == DELETE:
        state = "deleted" if state == Job.State.SUCCEEDED else f"delete {state}"
    return {"source": "panel", "job": job_payload(job), "state": state, "done": job.done,
            "total": job.total, "progress": job.progress, "speed": job.speed,
            "eta_seconds": job.eta_seconds, "message": job.error or job.message}


def downloads_matrix() -> dict[str, Any]:
    nodes = list(Node.objects.filter(in_exo_cluster=True))
    jobs = _latest_jobs()
    exo = {(d["model_id"], d.get("node")): d
           for d in (cluster_snapshot() or {}).get("downloads", [])}
    rows = []
    for model in LlmModel.objects.all().order_by("-size_bytes"):
        cells = {}
        for node in nodes:
            job = jobs.get((model.repo_id, node.name))
            seen_by_exo = exo.get((model.exo_model_id, node.name))
            if job and (job.state in Job.ACTIVE or not seen_by_exo or job.kind == DELETE):
                cells[node.name] = _job_cell(job)
            elif seen_by_exo:
                cells[node.name] = _exo_cell(seen_by_exo)
            else:
                cells[node.name] = {"source": None, "state": "absent"}
        rows.append({"slug": model.slug, "display_name": model.display_name,
                     "repo_id": model.repo_id, "size_bytes": model.size_bytes,
                     "tensor_parallel": model.tensor_parallel, "cells": cells})
    return {
        "nodes": [{"name": n.name, "display_name": n.display_name, "disk_total": n.disk_total,
                   "disk_free": n.disk_free, "models_dir": str(n.models_path)} for n in nodes],
        "models": rows,
    }
