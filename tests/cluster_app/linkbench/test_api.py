"""`/api/v1/linkbench/` and the Link benchmark page, in-process (jobs are queued, not run)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from cluster_app.linkbench.job import KIND
from cluster_app.models import Job, LinkBenchmark, Node

pytestmark = pytest.mark.django_db
URL = "/api/v1/linkbench/"


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    return body["error"]


def benchmark(latency_us=40.0, bandwidth_gbps=8.0, minutes_ago=0):
    points = [{"bytes": 4, "seconds": latency_us / 1e6, "gbps": 32 / latency_us / 1e3},
              {"bytes": 1024**2, "seconds": 1024**2 * 8 / bandwidth_gbps / 1e9,
               "gbps": bandwidth_gbps}]
    row = LinkBenchmark.objects.create(backend="ring", hosts=["vm", "vm"], ranks=2, points=points,
                                       latency_us=latency_us, bandwidth_gbps=bandwidth_gbps)
    LinkBenchmark.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return row


def test_post_queues_one_benchmark_on_the_masters_queue(api_client, nodes,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post(URL, {"backend": "auto"}, format="json")
    assert response.status_code == 202
    job = response.json()
    assert (job["kind"], job["node"], job["state"]) == (KIND, "alpha", "queued")
    assert job["params"] == {"backend": "auto", "quick": False}
    assert callbacks  # enqueued once the request's transaction commits

    again = api_client.post(URL, {"backend": "ring", "quick": True}, format="json")
    assert again.status_code == 202 and again.json()["id"] == job["id"]
    assert Job.objects.filter(kind=KIND).count() == 1


def test_jaccl_is_refused_when_the_nodes_are_one_machine(api_client, nodes, settings):
    settings.WORKER_NODES = ["alpha", "beta", "gamma"]
    response = api_client.post(URL, {"backend": "jaccl"}, format="json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "jaccl_unavailable"
    assert not Job.objects.exists()


def test_jaccl_is_queued_when_each_node_has_its_worker_and_device(
        api_client, nodes, settings, django_capture_on_commit_callbacks):
    settings.WORKER_NODES = ["alpha"]
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(URL, {"backend": "jaccl"}, format="json")
    assert response.status_code == 202 and response.json()["params"]["backend"] == "jaccl"


@pytest.mark.parametrize("body", [{"backend": "mpi"}, {"backend": None}, {"quick": "maybe"},
                                  {"backend": ["ring"]}])
def test_bad_input_is_a_400_json(api_client, nodes, body):
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert error_of(response)["message"]


def test_without_a_master_node_nothing_is_queued(api_client, nodes):
    Node.objects.filter(role=Node.Role.MASTER).update(role=Node.Role.WORKER)
    response = api_client.post(URL, {}, format="json")
    assert response.status_code == 400 and error_of(response)["code"] == "no_master"


def test_get_lists_newest_first_with_the_guides_comparison(api_client):
    older, newer = benchmark(500.0, 12.0, minutes_ago=5), benchmark(40.0, 3.0)
    listed = api_client.get(URL).json()
    assert [row["id"] for row in listed] == [newer.pk, older.pk]
    latest = listed[0]
    assert (latest["backend"], latest["ranks"], latest["hosts"]) == ("ring", 2, ["vm", "vm"])
    assert latest["comparison"]["link"] == "tcp"
    assert latest["comparison"]["latency"]["verdict"] == "meets"
    assert latest["comparison"]["bandwidth"]["verdict"] == "misses"
    assert [point["bytes"] for point in latest["expected"]["rdma"]] == [4, 1024**2]
    assert set(latest["expected"]) == {"rdma", "tcp"}
    assert [row["id"] for row in api_client.get(URL, {"limit": 1}).json()] == [newer.pk]


def test_get_with_a_bad_limit_is_a_400(api_client):
    response = api_client.get(URL, {"limit": "many"})
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_limit"


def test_anonymous_calls_are_refused(client):
    assert client.get(URL).status_code == 401
    assert client.post(URL, {}, content_type="application/json").status_code == 401


def page_data(response):
    html = response.content.decode()
    start = html.index('<script id="linkbench-data" type="application/json">')
    return json.loads(html[html.index(">", start) + 1:html.index("</script>", start)])


def test_the_page_shows_an_empty_state_before_any_run(client, alice, nodes):
    client.force_login(alice)
    response = client.get("/linkbench/")
    assert response.status_code == 200
    assert b"No link benchmark has run yet" in response.content
    assert b"2 local ranks over ring" in response.content  # what auto does here
    data = page_data(response)
    assert data["results"] == [] and data["running_job"] is None
    assert data["expectations"]["rdma"]["latency_us"] == 100.0


def test_the_page_carries_the_results_and_the_running_job(client, alice, nodes):
    row = benchmark()
    job = Job.objects.create(kind=KIND, node=nodes["alpha"], state=Job.State.RUNNING)
    client.force_login(alice)
    data = page_data(client.get("/linkbench/"))
    assert [result["id"] for result in data["results"]] == [row.pk]
    assert data["running_job"]["id"] == job.pk


def test_the_page_needs_a_login(client):
    response = client.get("/linkbench/")
    assert response.status_code == 302 and "/login" in response["Location"]
