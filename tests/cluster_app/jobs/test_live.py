"""A job from HTTP to a real Celery worker and back to a real websocket."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from cluster_app.models import Job
from tests.stack import Stack, api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def open_job_socket(stack: Stack, token: str, job_id: int) -> ClientConnection:
    return connect(f"{stack.ws_url}/ws/jobs/{job_id}/",
                   additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10)


def events_until(ws: ClientConnection, done: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Collect job payloads from the socket until `done(job)` is true."""
    seen = []
    while True:
        message = json.loads(ws.recv(timeout=timeout))
        seen.append(message["job"])
        if done(message["job"]):
            return seen


def start_ping(stack: Stack, token: str, **params: Any) -> dict[str, Any]:
    with api(stack, token) as client:
        response = client.post("/api/v1/jobs/", json={"kind": "ping", "node": "alpha",
                                                      "params": params})
    assert response.status_code == 201, response.text
    return response.json()


def control(stack: Stack, token: str, job_id: int, action: str) -> dict[str, Any]:
    with api(stack, token) as client:
        response = client.post(f"/api/v1/jobs/{job_id}/{action}/")
    assert response.status_code == 200, response.text
    return response.json()


def test_ping_job_runs_on_worker_and_streams_progress(live_stack, nodes, alice_token):
    job = start_ping(live_stack, alice_token, count=4, interval=0.3)
    assert job["state"] == "queued" and job["node"] == "alpha"

    with open_job_socket(live_stack, alice_token, job["id"]) as ws:
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "snapshot" and first["job"]["id"] == job["id"]
        seen = events_until(ws, lambda j: j["state"] in ("succeeded", "failed"))

    final = seen[-1]
    assert final["state"] == "succeeded", final
    assert final["done"] == 4 and final["total"] == 4 and final["progress"] == 1.0
    assert len(final["result"]["rtt_ms"]) == 4
    assert final["result"]["hostname"]
    progress = [event["done"] for event in seen if event["state"] == "running"]
    assert progress == sorted(progress) and len(set(progress)) >= 2, seen
    assert Job.objects.get(pk=job["id"]).state == Job.State.SUCCEEDED


def test_running_job_is_cancelled_midway(live_stack, nodes, alice_token):
    job = start_ping(live_stack, alice_token, count=20, interval=0.5)
    with open_job_socket(live_stack, alice_token, job["id"]) as ws:
        ws.recv(timeout=10)
        events_until(ws, lambda j: j["state"] == "running" and j["done"] >= 2)
        control(live_stack, alice_token, job["id"], "cancel")
        final = events_until(ws, lambda j: j["state"] not in ("queued", "running"))[-1]

    assert final["state"] == "cancelled"
    assert 2 <= final["done"] < 20
    assert final["finished_at"] is not None


def test_paused_job_resumes_where_it_stopped(live_stack, nodes, alice_token):
    job = start_ping(live_stack, alice_token, count=8, interval=0.3)
    with open_job_socket(live_stack, alice_token, job["id"]) as ws:
        ws.recv(timeout=10)
        events_until(ws, lambda j: j["state"] == "running" and j["done"] >= 2)
        control(live_stack, alice_token, job["id"], "pause")
        paused = events_until(ws, lambda j: j["state"] == "paused")[-1]
        control(live_stack, alice_token, job["id"], "resume")
        final = events_until(ws, lambda j: j["state"] in ("succeeded", "failed"))[-1]

    assert 2 <= paused["done"] < 8
    assert final["state"] == "succeeded"
    assert len(final["result"]["rtt_ms"]) == 8  # rounds before the pause were kept
    assert final["attempts"] == 2


def test_jobs_socket_sends_snapshot_then_every_job(live_stack, nodes, alice_token):
    with connect(f"{live_stack.ws_url}/ws/jobs/",
                 additional_headers={"Authorization": f"Bearer {alice_token}"}) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["type"] == "snapshot" and isinstance(snapshot["jobs"], list)
        job = start_ping(live_stack, alice_token, count=1, interval=0)
        states = set()
        while "succeeded" not in states:
            message = json.loads(ws.recv(timeout=30))
            if message["job"]["id"] == job["id"]:
                states.add(message["job"]["state"])
    assert {"queued", "running", "succeeded"} <= states


def test_job_list_shows_newest_first(live_stack, nodes, alice_token):
    first = start_ping(live_stack, alice_token, count=1, interval=0)
    second = start_ping(live_stack, alice_token, count=1, interval=0)
    with api(live_stack, alice_token) as client:
        wait_until(lambda: client.get(f"/api/v1/jobs/{second['id']}/").json()["state"]
                   == "succeeded")
        listed = client.get("/api/v1/jobs/", params={"kind": "ping"}).json()
    assert [job["id"] for job in listed][:2] == [second["id"], first["id"]]
