"""The jobs and nodes API: authentication and the bad-input matrix."""

from __future__ import annotations

import pytest
import redis
from rest_framework.test import APIClient

from arthur_panel.celery import app as celery_app
from cluster_app.access import throttle
from cluster_app.jobs.services import RUN_TASK
from cluster_app.models import ApiToken, Job

pytestmark = pytest.mark.django_db


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    return body["error"]


@pytest.mark.parametrize("path", ["/api/v1/jobs/", "/api/v1/jobs/1/", "/api/v1/nodes/",
                                  "/api/v1/nodes/alpha/", "/api/v1/schema/"])
def test_anonymous_api_calls_get_401_json(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_bearer_token_authenticates_and_a_bad_one_is_refused(alice_token, nodes):
    client = APIClient()
    response = client.get("/api/v1/nodes/", HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert response.status_code == 200
    response = client.get("/api/v1/nodes/", HTTP_AUTHORIZATION="Bearer arthur_wrong")
    assert response.status_code == 401
    assert "Invalid, expired or revoked" in error_of(response)["message"]


def test_redis_away_is_a_503_to_try_again_not_a_500(api_client, nodes, monkeypatch):
    def refused(limits):  # every request is counted in Redis first
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(throttle, "take_request", refused)
    response = api_client.get("/api/v1/jobs/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert error_of(response)["code"] == "redis_unavailable"


def test_token_of_an_inactive_user_is_refused(alice, alice_token):
    alice.is_active = False
    alice.save()
    response = APIClient().get("/api/v1/jobs/", HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert response.status_code == 401


def test_tokens_are_stored_hashed(alice):
    token, secret = ApiToken.issue(user=alice)
    stored = ApiToken.objects.values_list("digest", "hint").get(pk=token.pk)
    assert secret not in stored[0] and stored[0] == ApiToken.digest_of(secret)
    assert secret.startswith(stored[1]) and len(stored[1]) < len(secret)


def test_nodes_list_the_guides_inventory(api_client, nodes):
    listed = {node["name"]: node for node in api_client.get("/api/v1/nodes/").json()}
    assert set(listed) >= {"alpha", "beta", "gamma"}
    assert listed["alpha"]["ram_bytes"] == 512 * 1024**3 and listed["alpha"]["role"] == "master"
    assert listed["gamma"]["in_exo_cluster"] is False
    assert (listed["beta"]["queue"], listed["beta"]["control_queue"]) == ("node.beta",
                                                                          "node.beta.control")


def test_unknown_job_is_404_json(api_client):
    response = api_client.get("/api/v1/jobs/999999/")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert api_client.post("/api/v1/jobs/999999/cancel/").status_code == 404


def test_non_numeric_job_id_is_404_json(api_client):
    response = api_client.get("/api/v1/jobs/abc/")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_malformed_json_is_400_with_a_message(api_client):
    response = api_client.post("/api/v1/jobs/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"
    assert "JSON" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [({}, "kind"), ({"kind": "nope", "node": "alpha"}, "cannot be started here"),
     ({"kind": "ping", "node": "omega"}, "node"),
     ({"kind": "ping", "node": "alpha", "params": {"count": 0}}, "count"),
     ({"kind": "ping", "node": "alpha", "params": {"interval": "soon"}}, "interval"),
     ({"kind": "ping", "node": "alpha", "params": "x"}, "params"),
     ({"kind": "ping"}, "needs a target node")],
)
def test_bad_job_requests_are_400_with_a_message(api_client, nodes, body, fragment):
    response = api_client.post("/api/v1/jobs/", data=body, format="json")
    assert response.status_code == 400
    assert fragment in error_of(response)["message"]
    assert not Job.objects.exists()


def test_bad_limit_is_400(api_client):
    response = api_client.get("/api/v1/jobs/?limit=many")
    assert response.status_code == 400 and "limit" in error_of(response)["message"]


def test_wrong_method_is_405_json(api_client):
    response = api_client.delete("/api/v1/jobs/")
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"


def test_controlling_a_finished_job_is_409(api_client, nodes):
    job = Job.objects.create(kind="ping", node=nodes["alpha"], state=Job.State.SUCCEEDED)
    for action in ("cancel", "pause", "resume"):
        response = api_client.post(f"/api/v1/jobs/{job.pk}/{action}/")
        assert response.status_code == 409, action
        assert error_of(response)["message"]


def test_session_posts_need_the_csrf_token(alice, nodes):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/v1/jobs/", data={"kind": "ping", "node": "alpha"}, format="json")
    assert response.status_code == 403 and "CSRF" in error_of(response)["message"]


def test_created_job_is_queued_on_its_nodes_queue(api_client, nodes,
                                                  django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args, queue: sent.append(
        (name, args, queue)) or type("R", (), {"id": "x"})())
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/jobs/", data={"kind": "ping", "node": "beta"},
                                   format="json")
    assert response.status_code == 201
    assert sent == [(RUN_TASK, [response.json()["id"]], "node.beta")]
    assert response.json()["params"] == {"count": 5, "interval": 1.0}


def test_openapi_schema_lists_the_contract(api_client):
    response = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert {"/api/v1/jobs/", "/api/v1/jobs/{job_id}/", "/api/v1/jobs/{job_id}/cancel/",
            "/api/v1/nodes/"} <= paths
