"""The link benchmark end to end: HTTP -> a real Celery worker -> mlx.launch with two real ring
ranks -> a stored benchmark the API lists, progress followed over the job's websocket."""

from __future__ import annotations

import json

import pytest
from websockets.sync.client import connect

from cluster_app.linkbench.rank import QUICK_SIZES
from cluster_app.models import LinkBenchmark
from tests.stack import api

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_two_ring_ranks_measure_the_link_and_the_api_lists_it(live_stack, nodes, alice_token):
    with api(live_stack, alice_token) as client:
        response = client.post("/api/v1/linkbench/", json={"backend": "auto", "quick": True})
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["kind"] == "linkbench.run" and job["node"] == "alpha"

        with connect(f"{live_stack.ws_url}/ws/jobs/{job['id']}/", open_timeout=10,
                     additional_headers={"Authorization": f"Bearer {alice_token}"}) as ws:
            seen = []
            while not seen or seen[-1]["state"] in ("queued", "running"):
                seen.append(json.loads(ws.recv(timeout=90))["job"])
        final = seen[-1]
        assert final["state"] == "succeeded", (final["error"], final["log_tail"])

        listed = client.get("/api/v1/linkbench/").json()

    done = [event["done"] for event in seen if event["state"] == "running"]
    assert done == sorted(done) and final["total"] == len(QUICK_SIZES)
    assert any(line.startswith("plan: 2 local ranks over ring") for line in final["log_tail"])
    assert any(line.startswith("4 B: ") for line in final["log_tail"])

    stored = LinkBenchmark.objects.get(job_id=job["id"])
    assert (stored.backend, stored.ranks, len(stored.hosts)) == ("ring", 2, 2)
    assert [point["bytes"] for point in stored.points] == QUICK_SIZES
    for point in stored.points:
        assert 0 < point["seconds"] < 5 and point["gbps"] > 0
    # Loopback, two processes: far from RDMA hardware, but a real reduction took place.
    assert 0 < stored.latency_us < 1_000_000 and 0 < stored.bandwidth_gbps < 1000
    assert final["result"]["benchmark"] == stored.pk
    assert final["result"]["latency_us"] == stored.latency_us

    assert listed[0]["id"] == stored.pk and listed[0]["job"] == job["id"]
    assert listed[0]["comparison"]["link"] == "tcp"
    assert listed[0]["comparison"]["latency"]["measured_us"] == stored.latency_us
