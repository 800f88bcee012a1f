"""Health checks through the real stack: `POST /api/v1/health/` runs a job on a worker, which
asks each node's queue for its checks; the results come back on `GET /api/v1/health/`."""

from __future__ import annotations

from typing import Any

import httpx
import mlx.core as mx
import pytest

from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def run_checks(stack: Any, token: str) -> dict[str, Any]:
    with api(stack, token) as client:
        started = client.post("/api/v1/health/")
        assert started.status_code in (200, 201), started.text
        job_id = started.json()["id"]
        finished = wait_until(lambda: (job := client.get(f"/api/v1/jobs/{job_id}/").json())
                              ["state"] not in ("queued", "running") and job, timeout=60)
        return {"job": finished, "report": client.get("/api/v1/health/").json()}


def test_run_checks_now_through_the_workers(live_stack, exo_url, nodes, alice_token):
    for instance_id in httpx.get(f"{exo_url}/state").json()["instances"]:  # another test's
        httpx.delete(f"{exo_url}/instance/{instance_id}")
    wait_until(lambda: not httpx.get(f"{exo_url}/state").json()["instances"])
    run = run_checks(live_stack, alice_token)
    job, report = run["job"], run["report"]
    assert job["state"] == "succeeded", job
    assert (job["kind"], job["progress"], job["total"]) == ("health.run", 1.0, 3)  # cluster + 2
    assert job["result"]["silent_nodes"] == []
    assert any("rdma_device: ibv_devinfo not found on ALPHA" in line for line in job["log_tail"])

    groups = {g["scope"]: {c["name"]: c for c in g["checks"]} for g in report["groups"]}
    assert list(groups) == ["cluster", "alpha", "beta"]  # GAMMA is not an exo node
    cluster = groups["cluster"]
    assert cluster["exo_api"]["status"] == "pass"
    assert cluster["cluster_nodes"]["status"] == "pass"
    assert cluster["cluster_nodes"]["evidence"]["lines"] == [
        "Nodes: 2", "  - ALPHA: 512 GB", "  - BETA: 256 GB"]
    for name, label in (("alpha", "ALPHA"), ("beta", "BETA")):
        checks = groups[name]
        assert set(checks) == {"memory_pressure", "rdma_device", "mlx", "model_files"}
        assert checks["memory_pressure"]["status"] == "pass"
        # The stack's nodes have no ibv_devinfo (tests/stack.py): not available, not a failure.
        assert (checks["rdma_device"]["status"], checks["rdma_device"]["summary"]) == (
            "unavailable", f"ibv_devinfo not found on {label}")
        # The worker's real MLX: on this Linux machine there is no Metal, and it says so.
        mlx = checks["mlx"]
        assert mlx["status"] == ("pass" if mx.metal.is_available() else "warn")
        assert mlx["evidence"]["mlx_version"] == mx.__version__
        assert (checks["model_files"]["status"], checks["model_files"]["summary"]) == (
            "pass", f"No loaded model has a shard on {label}")
        assert checks["mlx"]["stale"] is False and checks["mlx"]["age_seconds"] < 60
    assert report["overall"] == ("pass" if mx.metal.is_available() else "warn")
    assert report["running_job"] is None
