"""Download requests: targets, preflight refusals, one job per click, the matrix."""

from __future__ import annotations

import pytest

from cluster_app.models import Job, Node
from cluster_app.nodes.poll import keep_snapshot
from models_app.models import LlmModel

pytestmark = pytest.mark.django_db
GIB = 1024**3


@pytest.fixture
def no_enqueue(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        yield


def start(api_client, slug, **body):
    return api_client.post(f"/api/v1/models/{slug}/download/", body, format="json")


def test_default_target_is_alpha(api_client, nodes, no_enqueue):
    response = start(api_client, "llama-3.2-1b")
    assert response.status_code == 201
    (job,) = response.json()["jobs"]
    assert job["kind"] == "model.download" and job["node"] == "alpha"
    assert job["params"] == {"model": "llama-3.2-1b",
                             "repo_id": "mlx-community/Llama-3.2-1B-Instruct-4bit"}


def test_a_download_takes_any_name_of_the_model(api_client, nodes, no_enqueue):
    response = start(api_client, "LLAMA-3.2-1B")
    assert response.status_code == 201
    assert response.json()["jobs"][0]["params"]["model"] == "llama-3.2-1b"


def test_tensor_parallel_models_go_to_every_exo_node(api_client, nodes, no_enqueue):
    Node.objects.filter(in_exo_cluster=True).update(status="online", disk_free=1024 * GIB,
                                                   disk_total=2048 * GIB)
    jobs = start(api_client, "deepseek-v3-4bit").json()["jobs"]
    assert sorted(job["node"] for job in jobs) == ["alpha", "beta"]


def test_a_second_click_returns_the_same_job(api_client, nodes, no_enqueue):
    first = start(api_client, "llama-3.2-1b", node="beta")
    second = start(api_client, "llama-3.2-1b", node="beta")
    assert second.status_code == 200
    assert second.json()["jobs"][0]["id"] == first.json()["jobs"][0]["id"]
    assert Job.objects.filter(kind="model.download").count() == 1


def test_without_live_disk_figures_the_local_disk_is_checked(api_client, nodes, no_enqueue,
                                                            settings, tmp_path):
    settings.MODELS_DIR = tmp_path  # nodes offline: the disk holding MODELS_DIR is asked
    response = start(api_client, "deepseek-v3-8bit", node="alpha")
    assert response.status_code == 409  # 712 GB does not fit on this machine's disk
    assert response.json()["error"]["message"].startswith("needs 712 GB, ")


def test_refusal_names_the_shortfall(api_client, nodes, no_enqueue):
    Node.objects.filter(name="beta").update(status="online", disk_free=212 * GIB,
                                            disk_total=1024 * GIB)
    response = start(api_client, "deepseek-v3-4bit", node="beta")
    assert response.status_code == 409
    assert response.json()["error"] == {"message": "needs 378 GB, 212 GB free on BETA",
                                        "code": "insufficient_disk"}
    assert not Job.objects.exists()


def test_downloads_in_flight_reserve_their_space(api_client, nodes, no_enqueue):
    Node.objects.filter(name="alpha").update(status="online", disk_free=50 * GIB,
                                             disk_total=1024 * GIB)
    assert start(api_client, "llama-3.1-70b").status_code == 201  # 38 of 50 GB
    response = start(api_client, "mistral-large", node="alpha")  # 67 GB more
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "needs 67 GB, 12 GB free on ALPHA"


def test_gated_model_needs_a_token(api_client, nodes, settings):
    settings.HF_TOKEN = ""
    LlmModel.objects.filter(slug="llama-3.2-1b").update(gated=True)
    response = start(api_client, "llama-3.2-1b")
    assert response.status_code == 403 and "HF_TOKEN" in response.json()["error"]["message"]


@pytest.mark.parametrize(("slug", "body", "status", "fragment"), [
    ("nope", {}, 404, "No model 'nope'"),
    ("llama-3.2-1b", {"node": "omega"}, 400, "No node 'omega'"),
    ("llama-3.2-1b", {"node": 5}, 201, ""),
])
def test_bad_download_requests(api_client, nodes, no_enqueue, slug, body, status, fragment):
    Node.objects.create(name="5", display_name="FIVE", ram_bytes=GIB)
    response = start(api_client, slug, **body)
    assert response.status_code == status
    if fragment:
        assert fragment in response.json()["error"]["message"]


def test_delete_needs_a_node_and_no_active_download(api_client, nodes, no_enqueue):
    url = "/api/v1/models/llama-3.2-1b/download/"
    assert api_client.delete(url, {}, format="json").status_code == 400
    start(api_client, "llama-3.2-1b")
    busy = api_client.delete(url, {"node": "alpha"}, format="json")
    assert busy.status_code == 409
    assert "cancel the download first" in busy.json()["error"]["message"]


def test_matrix_lists_models_by_node_with_disk(api_client, nodes, no_enqueue):
    start(api_client, "llama-3.2-1b")
    matrix = api_client.get("/api/v1/downloads/").json()
    assert [n["name"] for n in matrix["nodes"]] == ["alpha", "beta"]
    row = next(m for m in matrix["models"] if m["slug"] == "llama-3.2-1b")
    assert row["cells"]["alpha"]["state"] == "queued" and row["cells"]["alpha"]["source"] == "panel"
    assert row["cells"]["beta"]["state"] == "absent"


def test_matrix_shows_what_exo_reports(api_client, nodes, no_enqueue):


    entry = {"model_id": "mlx-community/Llama-3.2-1B-Instruct-4bit", "speed": None, "eta_ms": None,
             "files_done": None, "files_total": None, "error": None}
    keep_snapshot({"downloads": [
        {**entry, "node": "alpha", "status": "completed", "downloaded": 100, "total": 100},
        {**entry, "node": "beta", "status": "pending", "downloaded": 0, "total": 100},
        {**entry, "model_id": "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit", "node": "beta",
         "status": "ongoing", "downloaded": 25, "total": 100, "speed": 5.0, "eta_ms": 15000},
    ]})
    rows = {m["slug"]: m["cells"] for m in api_client.get("/api/v1/downloads/").json()["models"]}
    assert rows["llama-3.2-1b"]["alpha"]["state"] == "completed"
    assert rows["llama-3.2-1b"]["alpha"]["source"] == "exo"
    assert rows["llama-3.2-1b"]["beta"]["state"] == "absent"  # exo lists it, nothing on disk
    ongoing = rows["llama-3.1-8b"]["beta"]
    assert (ongoing["state"], ongoing["progress"], ongoing["eta_seconds"]) == (
        "ongoing", 0.25, 15.0)
