"""Loading a model on the exo simulator shows up over /ws/cluster/, through the real stack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"


def snapshots_until(ws: ClientConnection, done, timeout: float = 30.0) -> dict[str, Any]:
    while True:
        message = json.loads(ws.recv(timeout=timeout))
        # Each node's network readings come over the same socket between polls.
        assert message["type"] in ("cluster", "network")
        if message["type"] == "cluster" and message["cluster"] and done(message["cluster"]):
            return message["cluster"]


def model_instances(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in snapshot["instances"] if i["model_id"] == LLAMA_1B]


def settled(snapshot: dict[str, Any]) -> bool:
    """Every node exo reports is in the inventory and online: a poll made while an earlier
    test's rows were flushed counts no memory at all."""
    online = [n for n in snapshot["nodes"] if n["status"] == "online"]
    return snapshot["reachable"] and not snapshot["unmatched_nodes"] and len(online) >= 2


def test_loading_a_model_shows_as_memory_over_the_cluster_socket(live_stack, nodes, alice_token):
    headers = {"Authorization": f"Bearer {alice_token}"}
    with connect(f"{live_stack.ws_url}/ws/cluster/", additional_headers=headers) as ws:
        before = snapshots_until(ws, lambda s: settled(s) and not model_instances(s))
        with api(live_stack, alice_token) as client:
            response = client.post("/api/v1/instances/", json={"model": LLAMA_1B})
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            loading = snapshots_until(ws, lambda s: any(i["status"] == "loading"
                                                        for i in model_instances(s)))
            ready = snapshots_until(ws, lambda s: any(i["status"] == "ready"
                                                      for i in model_instances(s)))
            (instance,) = model_instances(ready)
            assert ready["totals"]["used"] - before["totals"]["used"] > 0.5 * 1024**3
            assert instance["nodes"] == ["alpha"] and instance["sharding"] == "Pipeline"
            assert model_instances(loading)[0]["layers_total"] == 16
            job = wait_until(lambda: (j := client.get(f"/api/v1/jobs/{job_id}/").json())["state"]
                             in ("succeeded", "failed") and j)
            assert job["state"] == "succeeded", job
            assert job["result"]["instance_id"] == instance["instance_id"]

            unload = client.delete(f"/api/v1/instances/{instance['instance_id']}/")
            assert unload.status_code == 202
            after = snapshots_until(ws, lambda s: settled(s) and not model_instances(s))
        assert abs(after["totals"]["used"] - before["totals"]["used"]) < 0.5 * 1024**3
