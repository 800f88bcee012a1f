"""Who may start and control which kinds of job: every kind needs run_jobs, the exo kinds
operate_exo too, through `POST /api/v1/jobs/` and job control alike."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from cluster_app.access.permissions import OPERATE_EXO, RUN_JOBS
from cluster_app.models import Job

pytestmark = pytest.mark.django_db


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    return body["error"]



@pytest.fixture
def runner_client(bob):
    """Bob with run_jobs alone: jobs, but not exo's."""
    bob.user_permissions.add(Permission.objects.get(codename=RUN_JOBS.split(".")[1]))
    client = APIClient()
    client.force_login(bob)
    return client


@pytest.fixture
def viewer_client(bob):
    client = APIClient()
    client.force_login(bob)
    return client


EXO_KINDS = ["exo.start", "exo.stop", "cluster.start", "cluster.stop", "cluster.restart"]


@pytest.mark.parametrize("kind", EXO_KINDS)
def test_a_user_without_operate_exo_may_not_start_an_exo_kind(runner_client, nodes, kind):
    response = runner_client.post("/api/v1/jobs/", {"kind": kind, "node": "alpha"}, format="json")
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert f"Starting a {kind} job needs the '{OPERATE_EXO}' permission" in error["message"]
    assert not Job.objects.exists()


def test_an_operator_gets_past_the_permission(api_client, nodes):
    # exo kinds have endpoints of their own; this route says so, not that she may not.
    response = api_client.post("/api/v1/jobs/", {"kind": "cluster.start"}, format="json")
    assert response.status_code == 400 and error_of(response)["code"] == "unknown_kind"


@pytest.mark.parametrize("action", ["cancel", "pause", "resume"])
@pytest.mark.parametrize("kind", EXO_KINDS)
def test_a_user_without_operate_exo_may_not_control_an_exo_job(runner_client, nodes, kind,
                                                               action):
    job = Job.objects.create(kind=kind, node=nodes["alpha"], state=Job.State.RUNNING)
    response = runner_client.post(f"/api/v1/jobs/{job.pk}/{action}/")
    assert response.status_code == 403, response.content
    assert OPERATE_EXO in error_of(response)["message"]
    job.refresh_from_db()
    assert (job.state, job.control) == (Job.State.RUNNING, "")


def test_an_operator_may_cancel_an_exo_job(api_client, nodes):
    job = Job.objects.create(kind="cluster.stop", state=Job.State.QUEUED)
    response = api_client.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"


def test_a_user_with_run_jobs_may_cancel_a_ping(runner_client, nodes):
    job = Job.objects.create(kind="ping", node=nodes["alpha"], state=Job.State.QUEUED)
    response = runner_client.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"


@pytest.mark.parametrize("action", ["cancel", "pause", "resume"])
def test_a_viewer_may_not_control_even_a_ping(viewer_client, nodes, action):
    job = Job.objects.create(kind="ping", node=nodes["alpha"], state=Job.State.QUEUED)
    response = viewer_client.post(f"/api/v1/jobs/{job.pk}/{action}/")
    assert response.status_code == 403
    assert f"needs the '{RUN_JOBS}' permission (the operator role)" in error_of(response)["message"]
    job.refresh_from_db()
    assert (job.state, job.control) == (Job.State.QUEUED, "")


def test_an_unknown_kind_is_still_a_400_not_a_permission_error(api_client, nodes):
    response = api_client.post("/api/v1/jobs/", {"kind": "nope"}, format="json")
    assert response.status_code == 400 and error_of(response)["code"] == "unknown_kind"
