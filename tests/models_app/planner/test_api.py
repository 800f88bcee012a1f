"""POST /api/v1/plan/: the planner fed from the catalogue and the inventory."""

from __future__ import annotations

import pytest

from cluster_app.models import Node

pytestmark = pytest.mark.django_db
GIB = 1024**3
GUIDE_SET = ["deepseek-v3-4bit", "llama-3.1-70b", "llama-3.1-8b", "llama-3.2-1b"]


def plan(api_client, **body):
    response = api_client.post("/api/v1/plan/", {"context_tokens": 0, "live": False, **body},
                               format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_the_guides_recommended_set_on_configured_memory(api_client, nodes):
    result = plan(api_client, models=GUIDE_SET)
    assert [(r["utilisation_label"], r["remaining_label"], r["risk"]) for r in result["rows"]] == [
        ("49%", "390 GB", "Low"), ("54%", "352 GB", "Low"), ("55%", "347 GB", "Low"),
        ("55%", "346 GB", "Low")]
    assert result["totals"]["loaded_label"] == "422 GB" and result["fits"] is True
    assert result["thresholds"]["safe_label"] == "537 GB" and result["live_nodes"] == []


def test_models_are_named_any_way_the_catalogue_knows(api_client, nodes):
    names = ["DeepSeek-V3-4bit", "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit",
             "LLAMA-3.1-8B", "llama-3.2-1b"]
    assert [row["utilisation_label"] for row in plan(api_client, models=names)["rows"]] == [
        "49%", "54%", "55%", "55%"]


def test_deepseek_8bit_alone_is_high_risk_and_not_recommended(api_client, nodes):
    result = plan(api_client, models=["deepseek-v3-8bit"])
    (row,) = result["rows"]
    assert (row["utilisation_label"], row["remaining_label"], row["risk"]) == (
        "93%", "56 GB", "High")
    assert row["not_recommended"] and "OOM risk" in result["warnings"][0]
    assert result["fits"] is False and result["reasons"]


def test_context_adds_kv_cache(api_client, nodes):
    weights_only = plan(api_client, models=["llama-3.1-70b"])
    with_context = plan(api_client, models=["llama-3.1-70b"], context_tokens=65536)
    assert weights_only["totals"]["kv_cache_bytes"] == 0
    # 80 layers x 8 KV heads x 128 x 2 x 2 B
    assert with_context["totals"]["kv_cache_bytes"] == 20 * GIB


def test_live_memory_is_used_when_the_cluster_reports(api_client, nodes):
    Node.objects.filter(name="alpha").update(status="online", ram_total=512 * GIB,
                                             ram_used=400 * GIB)
    result = plan(api_client, models=["llama-3.1-8b"], live=True)
    assert result["live_nodes"] == ["alpha"]
    alpha = next(n for n in result["nodes"] if n["name"] == "alpha")
    assert alpha["used_bytes"] == 400 * GIB


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ({"models": ["gpt-17"]}, 400, "Not in the catalogue: gpt-17"),
    ({"models": "deepseek-v3-4bit"}, 400, "models"),
    ({"models": [], "context_tokens": -1}, 400, "context_tokens"),
    ({}, 400, "models"),
])
def test_bad_plan_requests(api_client, nodes, body, status, fragment):
    response = api_client.post("/api/v1/plan/", body, format="json")
    assert response.status_code == status and fragment in response.json()["error"]["message"]


def test_an_empty_plan_is_empty(api_client, nodes):
    result = plan(api_client, models=[])
    assert result["rows"] == [] and result["fits"] is True
