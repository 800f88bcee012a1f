"""Long user jobs filling every slot of the bulk worker do not hold up control work: a health run
(with each node's probe) and a cluster operation start and finish while the pings still run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cluster_app.models import ApiToken, Node
from tests.stack import BULK_SLOTS, api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
# About 40 s each: far longer than the control work below takes.
LONG_PING = {"count": 20, "interval": 2.0}


def job(client: httpx.Client, job_id: int) -> dict[str, Any]:
    return client.get(f"/api/v1/jobs/{job_id}/").json()


def finished(client: httpx.Client, job_id: int) -> dict[str, Any]:
    return wait_until(lambda: (j := job(client, job_id))["state"] not in ("queued", "running")
                      and j, timeout=60)


def test_control_work_runs_while_long_pings_fill_every_bulk_slot(live_stack, nodes, operator,
                                                                tmp_path):
    # exo.stop reads each node's PID lock: none here, so the nodes' stop is quick and harmless.
    for node in Node.objects.filter(in_exo_cluster=True):
        node.exo_pid_file = str(tmp_path / f"{node.name}.pid")
        node.save(update_fields=["exo_pid_file"])
    token = ApiToken.issue(user=operator, name="lanes")[1]
    with api(live_stack, token) as client:
        pings = []
        for _ in range(BULK_SLOTS):
            response = client.post("/api/v1/jobs/", json={"kind": "ping", "node": "alpha",
                                                          "params": LONG_PING})
            assert response.status_code == 201, response.text
            pings.append(response.json()["id"])
        try:
            wait_until(lambda: all(job(client, p)["state"] == "running" for p in pings),
                       timeout=30)

            health = client.post("/api/v1/health/")
            assert health.status_code in (200, 201), health.text
            stop = client.post("/api/v1/cluster/stop/")
            assert stop.status_code == 202, stop.text

            checked = finished(client, health.json()["id"])
            assert checked["state"] == "succeeded", checked
            assert checked["result"]["silent_nodes"] == []  # every node's probe ran too
            stopped = finished(client, stop.json()["id"])
            assert stopped["state"] == "succeeded", stopped
            assert set(stopped["result"]["nodes"]) == {"alpha", "beta"}
            # ...while every bulk slot was still taken.
            assert [job(client, p)["state"] for p in pings] == ["running"] * BULK_SLOTS
        finally:
            for ping in pings:
                client.post(f"/api/v1/jobs/{ping}/cancel/")
