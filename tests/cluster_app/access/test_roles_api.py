"""Every state-changing API route checks the role (viewer, operator, admin) and the key's scope
(chat, read, operate, admin) through one `require`: the 403 names what is missing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from cluster_app.access.rules import ADMINISTER, OPERATE_EXO, RUN_JOBS
from cluster_app.models import ApiToken, Job

pytestmark = pytest.mark.django_db

# (method, path, body, the permission it needs): every state-changing route.
ROUTES = [
    ("post", "/api/v1/cluster/start/", None, OPERATE_EXO),
    ("post", "/api/v1/cluster/stop/", None, OPERATE_EXO),
    ("post", "/api/v1/cluster/restart/", None, OPERATE_EXO),
    ("post", "/api/v1/nodes/alpha/start/", None, OPERATE_EXO),
    ("post", "/api/v1/nodes/alpha/stop/", None, OPERATE_EXO),
    ("post", "/api/v1/jobs/", {"kind": "ping", "node": "alpha"}, RUN_JOBS),
    ("post", "/api/v1/jobs/{job}/cancel/", None, RUN_JOBS),
    ("post", "/api/v1/jobs/{job}/pause/", None, RUN_JOBS),
    ("post", "/api/v1/jobs/{job}/resume/", None, RUN_JOBS),
    ("post", "/api/v1/instances/", {"model": "llama-3.2-1b"}, RUN_JOBS),
    ("delete", "/api/v1/instances/some-instance/", None, RUN_JOBS),
    ("post", "/api/v1/models/", {"repo_id": "org/model"}, RUN_JOBS),
    ("patch", "/api/v1/models/llama-3.2-1b/", {"notes": "x"}, RUN_JOBS),
    ("delete", "/api/v1/models/llama-3.2-1b/", None, RUN_JOBS),
    ("post", "/api/v1/models/import-exo/", None, RUN_JOBS),
    ("post", "/api/v1/models/llama-3.2-1b/exo-card/", None, RUN_JOBS),
    ("post", "/api/v1/models/llama-3.2-1b/download/", {"node": "alpha"}, RUN_JOBS),
    ("delete", "/api/v1/models/llama-3.2-1b/download/", {"node": "alpha"}, RUN_JOBS),
    ("post", "/api/v1/health/", None, RUN_JOBS),
    ("post", "/api/v1/health/doctor/", None, RUN_JOBS),
    ("post", "/api/v1/linkbench/", {"backend": "auto"}, RUN_JOBS),
]
READS = ["/api/v1/jobs/", "/api/v1/nodes/", "/api/v1/downloads/", "/api/v1/models/",
         "/api/v1/keys/", "/api/v1/schema/"]


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    return body["error"]


@pytest.fixture
def job(nodes):
    return Job.objects.create(kind="ping", node=nodes["alpha"], state=Job.State.QUEUED)


def call(client, method, path, body, job):
    return getattr(client, method)(path.format(job=job.pk), body, format="json")


def session(user):
    client = APIClient()
    client.force_login(user)
    return client


def with_key(user, *scopes):
    _, secret = ApiToken.issue(user=user, scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize("method, path, body, permission", ROUTES)
def test_a_viewer_is_refused_every_change_with_the_permission_and_role_named(
        bob, job, guide_models, method, path, body, permission):
    response = call(session(bob), method, path, body, job)
    assert response.status_code == 403, response.content
    error = error_of(response)
    role = "admin" if permission == ADMINISTER else "operator"
    assert error["code"] == "permission_denied"
    assert f"needs the '{permission}' permission (the {role} role)" in error["message"]
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED and Job.objects.count() == 1


@pytest.mark.parametrize("scopes", [("chat",), ("read",), ("chat", "read")])
@pytest.mark.parametrize("method, path, body, permission", ROUTES)
def test_a_key_without_operate_is_refused_every_change_even_for_an_operator(
        operator, job, guide_models, method, path, body, permission, scopes):
    response = call(with_key(operator, *scopes), method, path, body, job)
    assert response.status_code == 403, response.content
    error = error_of(response)
    assert error["code"] == "scope_denied"
    assert "needs an API key with the 'operate' scope" in error["message"]
    assert Job.objects.count() == 1


@pytest.mark.parametrize("path", [p for p in READS if p != "/api/v1/keys/"])
def test_a_chat_key_reads_nothing_of_the_api(operator, path):
    response = with_key(operator, "chat").get(path)
    assert response.status_code == 403
    assert error_of(response)["code"] == "scope_denied"
    assert "'read' scope" in error_of(response)["message"]


@pytest.mark.parametrize("path", [p for p in READS if p != "/api/v1/keys/"])
@pytest.mark.parametrize("scopes", [("read",), ("operate",)])
def test_a_viewer_and_a_read_key_read_the_api(bob, path, scopes):
    assert session(bob).get(path).status_code == 200
    assert with_key(bob, *scopes).get(path).status_code == 200


@pytest.mark.parametrize("scopes", [("operate",), ("admin",)])
def test_an_operators_operate_key_stops_the_cluster(operator, nodes, scopes):
    response = with_key(operator, *scopes).post("/api/v1/cluster/stop/")
    assert response.status_code == 202, response.content
    assert response.json()["kind"] == "cluster.stop"


def test_an_operate_key_of_a_viewer_is_still_a_viewer(bob, nodes):
    # The key has the scope, its user lacks the role: a key never exceeds its user.
    response = with_key(bob, "operate").post("/api/v1/cluster/stop/")
    assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"


def test_an_operator_runs_jobs_and_stops_the_cluster_in_the_session(operator, job):
    client = session(operator)
    assert client.post("/api/v1/jobs/", {"kind": "ping", "node": "alpha"},
                       format="json").status_code == 201
    assert client.post(f"/api/v1/jobs/{job.pk}/cancel/").json()["state"] == "cancelled"
    assert client.post("/api/v1/cluster/stop/").status_code == 202


def test_planning_is_open_to_viewers_and_read_keys(bob, guide_models):
    body = {"models": ["llama-3.2-1b"], "live": False}
    assert session(bob).post("/api/v1/plan/", body, format="json").status_code == 200
    assert with_key(bob, "read").post("/api/v1/plan/", body, format="json").status_code == 200
    response = with_key(bob, "chat").post("/api/v1/plan/", body, format="json")
    assert response.status_code == 403 and "'read' scope" in error_of(response)["message"]


def test_a_revoked_key_and_an_expired_key_are_401(operator):
    revoked, revoked_secret = ApiToken.issue(user=operator)
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at="2026-01-01T00:00:00Z")
    _, expired_secret = ApiToken.issue(user=operator)
    ApiToken.objects.exclude(pk=revoked.pk).update(expires_at="2026-01-01T00:00:00Z")
    for secret in (revoked_secret, expired_secret):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        response = client.get("/api/v1/jobs/")
        assert response.status_code == 401
        assert "expired or revoked" in error_of(response)["message"]


def test_a_keys_use_is_recorded_with_its_address(operator):
    key, secret = ApiToken.issue(user=operator, scopes=["read"])
    client = APIClient(REMOTE_ADDR="192.0.2.7")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/jobs/").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None and key.last_used_from == "192.0.2.7"


def test_a_viewer_cannot_add_a_model_from_the_page(bob, client):
    client.force_login(bob)
    response = client.post("/models/add/", {"repo_id": "org/model"})
    assert response.status_code == 200
    assert "needs the &#x27;cluster_app.run_jobs&#x27; permission" in response.content.decode()
