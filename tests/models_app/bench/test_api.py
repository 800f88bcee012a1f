"""`/api/v1/benchmarks/` in-process (the job is queued, not run): who may start one, what is
refused and how, the detail with its summary, and the CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from cluster_app.models import Job
from models_app.bench.services import KIND
from models_app.models import Benchmark, BenchmarkRun

pytestmark = pytest.mark.django_db
URL = "/api/v1/benchmarks/"
TINY = {"model": "llama-3.2-1b", "prompt_lengths": [512], "generation_lengths": [16], "runs": 1}


def error_of(response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    return body["error"]


def finished_benchmark() -> Benchmark:
    benchmark = Benchmark.objects.create(
        model_id="mlx-community/Llama-3.2-1B-Instruct-4bit", slug="llama-3.2-1b",
        mode="placements", prompt_lengths=[512], generation_lengths=[16], runs_per_cell=1,
        expected_tokens_per_second=5000, electricity_usd_per_kwh=Decimal("0.30"))
    for meta, tps in (("MlxRing", 3000.0), ("MlxJaccl", 4500.0)):
        BenchmarkRun.objects.create(
            benchmark=benchmark, sharding="Tensor", instance_meta=meta, node_count=2,
            node_names=["alpha", "beta"], prompt_length=512, generation_length=16, run=1,
            prompt_tokens=512, generation_tokens=16, prefill_tps=40000.0, generation_tps=tps,
            first_token_seconds=0.01, peak_memory_bytes=10**9, energy_joules=8.0,
            joules_per_token=0.5, cost_per_million_usd=0.0417)
    return benchmark


def test_an_operator_starts_one_benchmark_job(api_client, guide_models,
                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(URL, TINY, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["mode"] == "placements" and body["job"]["kind"] == KIND
    assert body["expected_tokens_per_second"] == 5000 and body["electricity_usd_per_kwh"]
    job = Job.objects.get(pk=body["job"]["id"])
    assert job.params == {"benchmark": body["id"], "instance_id": ""} and job.node is None
    second = api_client.post(URL, TINY, format="json")
    assert second.status_code == 409 and error_of(second)["code"] == "benchmark_running"


def test_a_viewer_reads_but_may_not_start(bob, guide_models):
    client = APIClient()
    client.force_login(bob)
    finished_benchmark()
    assert client.get(URL).status_code == 200
    refused = client.post(URL, TINY, format="json")
    assert refused.status_code == 403 and error_of(refused)["message"]
    assert APIClient().get(URL).status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({**TINY, "prompt_lengths": []}, "prompt_lengths"),
    ({**TINY, "generation_lengths": [0]}, "generation_lengths"),
    ({**TINY, "runs": 11}, "runs"),
    ({**TINY, "mode": "sometimes"}, "mode"),
    ({**TINY, "instance_id": "../state"}, "instance_id"),
])
def test_bad_matrices_are_400_json_naming_the_field(api_client, guide_models, body, field):
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400 and field in error_of(response)["message"]


def test_a_matrix_over_the_context_or_an_unknown_model_is_refused(api_client, guide_models):
    too_long = api_client.post(URL, {**TINY, "prompt_lengths": [131072]}, format="json")
    assert too_long.status_code == 400 and error_of(too_long)["code"] == "matrix_too_large"
    unknown = api_client.post(URL, {**TINY, "model": "no-such-model"}, format="json")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "unknown_model"


def test_the_detail_summarises_against_the_guide(api_client):
    benchmark = finished_benchmark()
    body = api_client.get(f"{URL}{benchmark.pk}/").json()
    summary = body["summary"]
    assert [(p["placement"], p["verdict"]) for p in summary["placements"]] == [
        ("Tensor/MlxRing/2", "misses"), ("Tensor/MlxJaccl/2", "near")]
    assert summary["rdma_ratios"][0]["ratio"] == pytest.approx(1.5)
    assert body["verdict"]["placement"] == "Tensor/MlxJaccl/2"
    assert api_client.get(f"{URL}?model=llama-3.2-1b").json()[0]["id"] == benchmark.pk
    assert api_client.get(f"{URL}?model=other").json() == []
    missing = api_client.get(f"{URL}999999/")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_the_csv_has_a_line_per_run(api_client):
    benchmark = finished_benchmark()
    response = api_client.get(f"{URL}{benchmark.pk}/csv/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["instance_meta"], r["generation_tps"]) for r in rows] == [
        ("MlxRing", "3000.0"), ("MlxJaccl", "4500.0")]
    assert rows[0]["nodes"] == "alpha beta" and rows[0]["cost_per_million_usd"] == "0.0417"
