"""The cluster and instances API against the exo simulator, and with exo down."""

from __future__ import annotations

import pytest

from arthur_panel.launcher import free_port
from cluster_app.models import Job
from models_app.models import LlmModel

pytestmark = pytest.mark.django_db
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"


@pytest.fixture
def exo_down(settings):
    settings.EXO_API_URL = f"http://127.0.0.1:{free_port()}"
    settings.EXO_RETRIES = 0


def test_cluster_summary(api_client, exo_url, nodes):
    body = api_client.get("/api/v1/cluster/").json()
    assert body["reachable"] is True
    assert {n["name"] for n in body["nodes"]} == {"alpha", "beta", "gamma"}
    assert body["totals"]["total"] == 768 * 1024**3


@pytest.mark.parametrize("path", ["/api/v1/instances/", "/api/v1/cluster/models/",
                                  f"/api/v1/instances/previews/?model={LLAMA_1B}"])
def test_exo_down_is_a_503_with_a_clear_message(api_client, exo_down, path):
    response = api_client.get(path)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "exo_unavailable" and "is not answering" in error["message"]


def test_cluster_summary_with_exo_down_says_so(api_client, exo_down, nodes):
    body = api_client.get("/api/v1/cluster/").json()
    assert body["reachable"] is False and "not answering" in body["error"]


def test_load_needs_a_known_model(api_client, exo_url):
    response = api_client.post("/api/v1/instances/", {"model": "gpt-17"}, format="json")
    assert response.status_code == 404
    assert "Neither the catalogue nor exo knows a model 'gpt-17'" in (
        response.json()["error"]["message"])
    assert not Job.objects.exists()


@pytest.mark.parametrize(("body", "fragment"), [
    ({}, "model"), ({"model": LLAMA_1B, "sharding": "Diagonal"}, "sharding"),
    ({"model": LLAMA_1B, "min_nodes": 0}, "min_nodes")])
def test_bad_load_requests_are_400(api_client, exo_url, body, fragment):
    response = api_client.post("/api/v1/instances/", body, format="json")
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]


def test_load_accepts_the_short_repo_name_and_queues_a_job(api_client, exo_url, nodes,
                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post("/api/v1/instances/", {"model": "Llama-3.2-1B-Instruct-4bit"},
                                   format="json")
    assert response.status_code == 202
    job = response.json()
    assert job["kind"] == "instance.load" and job["params"]["model_id"] == LLAMA_1B


@pytest.mark.parametrize("name", ["llama-3.2-1b", "LLAMA-3.2-1B", LLAMA_1B.upper()])
def test_load_and_previews_take_the_catalogues_names(api_client, exo_url, nodes, guide_models,
                                                     django_capture_on_commit_callbacks, name):
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post("/api/v1/instances/", {"model": name}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["params"]["model_id"] == LLAMA_1B
    previews = api_client.get(f"/api/v1/instances/previews/?model={name}")
    assert previews.status_code == 200 and previews.json()["model_id"] == LLAMA_1B


def test_a_catalogue_alias_names_the_model_too(api_client, exo_url, nodes, guide_models,
                                               django_capture_on_commit_callbacks):
    LlmModel.objects.filter(slug="llama-3.2-1b").update(aliases=["tiny"])
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post("/api/v1/instances/", {"model": "Tiny"}, format="json")
    assert response.status_code == 202 and response.json()["params"]["model_id"] == LLAMA_1B


def test_unknown_instance_is_404(api_client, exo_url):
    assert api_client.get("/api/v1/instances/nope/").status_code == 404
    response = api_client.delete("/api/v1/instances/nope/")
    assert response.status_code == 404 and "not found" in response.json()["error"]["message"]


def test_previews_name_exos_placement_errors(api_client, exo_url, nodes):
    response = api_client.get("/api/v1/instances/previews/?model=mlx-community/DeepSeek-V3.1-8bit")
    assert response.status_code == 200
    rows = response.json()["previews"]
    assert rows and all(row["error"] for row in rows if len(row["nodes"]) < 2)
    assert api_client.get("/api/v1/instances/previews/").status_code == 400


def test_node_history_and_bad_tier(api_client, nodes):
    assert api_client.get("/api/v1/nodes/alpha/history/").json()["samples"] == []
    assert api_client.get("/api/v1/nodes/alpha/history/?tier=1y").status_code == 400
    assert api_client.get("/api/v1/nodes/omega/history/").status_code == 404
