"""The cluster and node start/stop API: 202 with the job, one job per click, refusals that say
why; and the exo process fields of the node representation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cluster_app.models import Job, Node

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def beta_may_join(nodes):
    """BETA runs the master's bootstrap command if it starts with exo."""
    Node.objects.filter(name="beta").update(exo_join_programs=[["exo"]])


@pytest.fixture
def api_client(operator):
    """An operator: starting and stopping exo is theirs to do."""
    client = APIClient()
    client.force_login(operator)
    return client


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    return body["error"]


@pytest.mark.parametrize("operation, kind", [("start", "cluster.start"), ("stop", "cluster.stop"),
                                             ("restart", "cluster.restart")])
def test_a_cluster_operation_answers_202_with_its_job_and_a_second_click_gets_the_same(
        api_client, nodes, alice, operation, kind):
    response = api_client.post(f"/api/v1/cluster/{operation}/")
    assert response.status_code == 202, response.content
    job = response.json()
    assert (job["kind"], job["node"], job["state"]) == (kind, None, "queued")
    assert job["created_by"] == "alice"
    assert job["url"] == f"/jobs/{job['id']}/"
    again = api_client.post(f"/api/v1/cluster/{operation}/")
    assert again.status_code == 202 and again.json()["id"] == job["id"]
    assert Job.objects.filter(kind=kind).count() == 1


def test_another_cluster_operation_is_refused_while_one_runs(api_client, nodes):
    start = api_client.post("/api/v1/cluster/start/").json()
    response = api_client.post("/api/v1/cluster/stop/")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "cluster_busy"
    assert f"cluster.start #{start['id']} is queued" in error["message"]


def test_the_cluster_cannot_start_while_a_node_has_no_way_to_start(api_client, nodes):
    Node.objects.filter(name="beta").update(exo_join_with_bootstrap=False, exo_start_command=[])
    response = api_client.post("/api/v1/cluster/start/")
    assert response.status_code == 400
    assert error_of(response) == {"code": "no_start_command", "message": (
        "BETA has no exo start command: set one in the admin, or let it join with the "
        "master's bootstrap command.")}
    assert api_client.post("/api/v1/cluster/stop/").status_code == 202  # stopping needs none
    assert not Job.objects.filter(kind="cluster.start").exists()


def test_without_exo_nodes_there_is_no_cluster_to_start(api_client, nodes):
    Node.objects.update(in_exo_cluster=False)
    response = api_client.post("/api/v1/cluster/start/")
    assert response.status_code == 400 and error_of(response)["code"] == "no_exo_nodes"


def test_a_node_start_or_stop_is_a_job_on_that_nodes_queue(api_client, nodes):
    start = api_client.post("/api/v1/nodes/alpha/start/")
    assert start.status_code == 202
    assert (start.json()["kind"], start.json()["node"]) == ("exo.start", "alpha")
    assert api_client.post("/api/v1/nodes/alpha/start/").json()["id"] == start.json()["id"]
    busy = api_client.post("/api/v1/nodes/alpha/stop/")
    assert busy.status_code == 409 and error_of(busy)["code"] == "node_busy"
    stop = api_client.post("/api/v1/nodes/beta/stop/")
    assert stop.status_code == 202 and stop.json()["kind"] == "exo.stop"


def test_exo_does_not_start_outside_the_cluster_or_on_an_unknown_node(api_client, nodes):
    response = api_client.post("/api/v1/nodes/gamma/start/")
    assert response.status_code == 400 and error_of(response)["code"] == "not_exo_node"
    assert api_client.post("/api/v1/nodes/omega/start/").status_code == 404


def test_start_and_stop_jobs_cannot_be_created_through_the_generic_job_endpoint(api_client, nodes):
    for kind in ("exo.start", "exo.stop", "cluster.start"):
        response = api_client.post("/api/v1/jobs/", {"kind": kind, "node": "alpha", "params": {
            "command": ["sh", "-c", "echo hi"]}}, format="json")
        assert response.status_code == 400 and error_of(response)["code"] == "unknown_kind"


@pytest.mark.parametrize("path", ["/api/v1/cluster/start/", "/api/v1/cluster/stop/",
                                  "/api/v1/cluster/restart/", "/api/v1/nodes/alpha/start/",
                                  "/api/v1/nodes/beta/stop/"])
def test_someone_who_is_not_an_operator_is_refused_with_the_permission_named(nodes, bob, path):
    client = APIClient()
    client.force_login(bob)
    response = client.post(path)
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert "'cluster_app.operate_exo' permission (the operator role)" in error["message"]
    assert not Job.objects.exists()


def test_operations_need_a_login(nodes):
    for path in ("/api/v1/cluster/start/", "/api/v1/nodes/alpha/stop/"):
        assert APIClient().post(path).status_code == 401
    assert not Job.objects.exists()


def test_the_node_shows_its_exo_process(api_client, nodes):
    started = timezone.now() - timedelta(minutes=5)
    Node.objects.filter(name="alpha").update(exo_pid=4242, exo_started_at=started,
                                             exo_version="1.0.71", exo_checked_at=timezone.now())
    alpha = api_client.get("/api/v1/nodes/alpha/").json()["exo_process"]
    assert alpha["running"] and alpha["pid"] == 4242 and alpha["version"] == "1.0.71"
    assert 299 <= alpha["uptime_seconds"] <= 305 and alpha["started_at"] and alpha["checked_at"]
    beta = api_client.get("/api/v1/nodes/beta/").json()["exo_process"]
    assert beta == {"running": False, "pid": None, "started_at": None, "uptime_seconds": None,
                    "version": "", "checked_at": None}
