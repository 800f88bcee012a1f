"""Health runs in-process: the cluster checks against the exo simulator and against a closed
port, node answers collected over Redis, a node whose worker never answers, the stored
results, the report, the API and the page."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from arthur_panel.launcher import free_port
from arthur_panel.redis_client import redis_client
from cluster_app.exo.client import ExoClient
from cluster_app.health import services
from cluster_app.health.checks import FAIL, PASS, UNAVAILABLE, Outcome
from cluster_app.models import HealthResult, Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_ibv_devinfo(settings, tmp_path):
    settings.IBV_DEVINFO_PATH = str(tmp_path / "no-ibv_devinfo")


def results() -> dict[tuple[str, str], HealthResult]:
    return {(r.name, r.scope): r for r in HealthResult.objects.all()}


def in_cluster(nodes: dict[str, Any]) -> list[Any]:
    return [node for node in nodes.values() if node.in_exo_cluster]


def test_cluster_checks_against_the_simulator(exo_url, nodes):
    with ExoClient(exo_url, retries=0) as client:
        outcomes, needed = services.cluster_checks(in_cluster(nodes), client=client)
    by_key = {(o.name, o.scope): o for o in outcomes}
    assert set(by_key) == {("exo_api", "cluster"), ("cluster_nodes", "cluster"),
                           ("memory_pressure", "alpha"), ("memory_pressure", "beta")}
    assert by_key["exo_api", "cluster"].status == PASS
    assert by_key["exo_api", "cluster"].evidence["state_shape"] == "current"
    assert by_key["cluster_nodes", "cluster"].evidence["lines"] == [
        "Nodes: 2", "  - ALPHA: 512 GB", "  - BETA: 256 GB"]
    assert by_key["memory_pressure", "alpha"].status == PASS
    assert needed is not None and set(needed) <= {"alpha", "beta"}


def test_with_exo_down_and_no_worker_every_check_says_why(nodes, settings, no_ibv_devinfo):
    """exo at a closed port, and no worker on this process's broker: nothing passes, and each
    result says why it could not check."""
    settings.EXO_API_URL = f"http://127.0.0.1:{free_port()}"
    summary = services.health_run(node_timeout=0.5)
    stored = results()
    exo = stored["exo_api", "cluster"]
    assert (exo.status, exo.summary) == (FAIL, f"exo is not answering at {settings.EXO_API_URL}")
    assert "is not answering" in exo.evidence["error"]
    assert exo.evidence["url"] == settings.EXO_API_URL
    assert (stored["cluster_nodes", "cluster"].status,
            stored["cluster_nodes", "cluster"].summary) == (
        UNAVAILABLE, "Not checked: exo's state could not be read")
    assert stored["cluster_nodes", "cluster"].evidence["error"] == exo.evidence["error"]
    for name in ("alpha", "beta"):
        assert stored["memory_pressure", name].status == UNAVAILABLE
        for check in ("rdma_device", "mlx", "model_files"):
            result = stored[check, name]
            assert (result.status, result.summary) == (
                FAIL, f"No worker answered on node.{name}.control within 0.5 s")
    assert not any(scope == "gamma" for _, scope in stored)  # not an exo node
    assert summary == {"overall": FAIL, "counts": {FAIL: 7, UNAVAILABLE: 3},
                       "silent_nodes": ["alpha", "beta"]}
    assert services.summary_line(summary) == (
        "FAIL: 7 fail, 3 unavailable; no answer from alpha, beta")


def test_node_answers_are_collected_and_stored(exo_url, nodes, monkeypatch, no_ibv_devinfo):
    """The node side answering through Redis, run here in place of the node's worker."""
    asked = []

    def answer_here(nodes, needed, reply_key, timeout):
        for node in nodes:
            asked.append((node.name, node.control_queue))
            wire = None if needed is None else [vars(m) for m in needed.get(node.name, [])]
            services.health_probe_reply(node_name=node.name, reply_key=reply_key, needed=wire)

    monkeypatch.setattr(services, "_ask_nodes", answer_here)
    summary = services.health_run(node_timeout=5)
    assert sorted(asked) == [("alpha", "node.alpha.control"), ("beta", "node.beta.control")]
    assert summary["silent_nodes"] == []
    stored = results()
    assert stored["rdma_device", "beta"].summary == "ibv_devinfo not found on BETA"
    assert stored["rdma_device", "beta"].status == UNAVAILABLE
    assert stored["mlx", "alpha"].evidence["mlx_version"]
    assert len(stored) == 4 + 2 * 3
    assert sum(summary["counts"].values()) == len(stored)


def test_a_probe_that_breaks_answers_with_the_error(nodes, monkeypatch):
    def broken(node, needed):
        raise OSError("disk on fire")

    monkeypatch.setattr(services.probe, "node_probe", broken)
    key = "arthur:health:test-broken"
    services.health_probe_reply(node_name="beta", reply_key=key, needed=[])
    answer = json.loads(redis_client().lpop(key))
    assert answer["node"] == "beta"
    assert {(o["name"], o["status"], o["summary"]) for o in answer["outcomes"]} == {
        (name, FAIL, "The check failed on BETA: disk on fire")
        for name in ("rdma_device", "mlx", "model_files")}


def test_the_report_groups_by_scope_in_page_order_and_says_what_is_stale(nodes):
    now = timezone.now()
    services.health_store([Outcome("mlx", "beta", "warn", "no Metal"),
                         Outcome("exo_api", "cluster", "pass", "exo answers"),
                         Outcome("rdma_device", "alpha", "fail", "rdma_en3: PORT_DOWN", {"x": 1},
                                 "check the cable")], checked_at=now - timedelta(seconds=30))
    services.health_store([Outcome("cluster_nodes", "cluster", "pass", "2 nodes")],
                        checked_at=now - timedelta(seconds=200))
    report = services.health_report(now=now)
    assert report["overall"] == FAIL
    assert report["counts"] == {"pass": 2, "warn": 1, "fail": 1}
    assert report["running_job"] is None
    assert [(g["scope"], g["label"], [c["name"] for c in g["checks"]])
            for g in report["groups"]] == [
        ("cluster", "Cluster", ["exo_api", "cluster_nodes"]),
        ("alpha", "ALPHA", ["rdma_device"]),
        ("beta", "BETA", ["mlx"])]
    exo, nodes_check = report["groups"][0]["checks"]
    assert (exo["title"], exo["age_seconds"], exo["stale"]) == ("exo answers", 30.0, False)
    assert (nodes_check["age_seconds"], nodes_check["stale"]) == (200.0, True)  # over 3 x 60 s
    rdma = report["groups"][1]["checks"][0]
    assert (rdma["hint"], rdma["evidence"], rdma["summary"]) == (
        "check the cable", {"x": 1}, "rdma_en3: PORT_DOWN")
    # A later run replaces the result of the same check and scope.
    services.health_store([Outcome("rdma_device", "alpha", "pass", "rdma_en3: PORT_ACTIVE")])
    assert HealthResult.objects.get(name="rdma_device", scope="alpha").status == PASS
    assert HealthResult.objects.count() == 4


def test_api_before_any_run_and_a_second_click_returns_the_running_job(
        api_client, nodes, django_capture_on_commit_callbacks):
    empty = api_client.get("/api/v1/health/").json()
    assert (empty["overall"], empty["groups"], empty["checked_at"]) == ("unknown", [], None)
    with django_capture_on_commit_callbacks(execute=False):
        first = api_client.post("/api/v1/health/")
        second = api_client.post("/api/v1/health/")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert (first.json()["kind"], first.json()["node"]) == ("health.run", None)
    assert Job.objects.filter(kind="health.run").count() == 1
    assert api_client.get("/api/v1/health/").json()["running_job"]["id"] == first.json()["id"]


def test_the_periodic_run_leaves_the_work_to_a_running_job(nodes, monkeypatch):
    Job.objects.create(kind="health.run", state=Job.State.RUNNING, dedupe_key="health")
    monkeypatch.setattr(services, "health_run", lambda **kw: pytest.fail("ran twice"))
    assert services.health_run_periodic() is None


def test_the_page_before_the_first_run(client, alice, nodes):
    client.force_login(alice)
    page = client.get("/health/").content.decode()
    assert "Run checks now" in page and "No checks have run yet" in page
    assert 'id="health-data"' in page and 'data-src="/health/action-plan/"' in page
