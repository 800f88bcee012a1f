"""Worker heartbeats: which node queues a worker serves, when its node counts as without a
worker, and what the jobs and the node API say then (the workers' side runs live in
tests/cluster_app/nodes/test_multi_host_live.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from arthur_panel.celery import Lane
from arthur_panel.redis_client import redis_client
from cluster_app.jobs import workers
from cluster_app.jobs.services import job_create, jobs_recover
from cluster_app.models import Job

pytestmark = pytest.mark.django_db
BULK_AND_CONTROL = [("alpha", Lane.BULK), ("alpha", Lane.CONTROL)]


@pytest.fixture(autouse=True)
def no_beats() -> Iterator[None]:
    redis_client().delete(workers.KEY)
    yield
    redis_client().delete(workers.KEY)


def beat_at(node: str, lane: Lane, seconds_ago: float) -> None:
    """A beat of `node`'s `lane` worker, `seconds_ago` by the Redis server's clock."""
    seconds, micros = redis_client().time()
    value = {"at": seconds + micros / 1e6 - seconds_ago, "host": "alpha.local", "pid": 4242}
    redis_client().hset(workers.KEY, f"{node}:{lane.value}", json.dumps(value))


def test_a_worker_serves_the_node_queues_it_consumes():
    assert workers.served(["default", "node.alpha", "control", "node.beta.control",
                           "node.gamma", "celery", "node.delta.other", "node."]) == [
        ("alpha", Lane.BULK), ("beta", Lane.CONTROL), ("gamma", Lane.BULK)]


def test_a_beat_says_online_until_it_is_older_than_the_offline_time(settings):
    settings.WORKER_OFFLINE_SECONDS = 15
    workers.beat(BULK_AND_CONTROL, host="alpha.local", pid=7)
    beat_at("beta", Lane.BULK, 16)
    seen = workers.workers_seen()
    assert seen["alpha"]["default"].online and seen["alpha"]["control"].online
    assert (seen["alpha"]["default"].host, seen["alpha"]["default"].pid) == ("alpha.local", 7)
    assert not seen["beta"]["default"].online
    assert workers.worker_online("alpha", Lane.CONTROL, seen)
    assert not workers.worker_online("beta", Lane.BULK, seen)
    assert not workers.worker_online("gamma", Lane.BULK, seen)  # never seen


def test_a_stopping_worker_withdraws_only_its_own_beats():
    workers.beat(BULK_AND_CONTROL, host="alpha.local", pid=7)
    workers.beat([("alpha", Lane.BULK)], host="alpha.local", pid=8)  # took the bulk lane over
    workers.forget(BULK_AND_CONTROL, pid=7)
    assert set(workers.workers_seen()["alpha"]) == {"default"}


def test_a_job_for_a_node_without_a_worker_says_it_waits_for_it(nodes):
    waiting, _ = job_create(kind="ping", node=nodes["beta"], params={}, enqueue=False)
    assert waiting.state == Job.State.QUEUED
    assert waiting.message.startswith("Waiting for BETA's worker")
    workers.beat([("beta", Lane.BULK)], host="beta.local", pid=9)
    served, _ = job_create(kind="ping", node=nodes["beta"], params={}, enqueue=False)
    assert served.message == ""


def test_recovery_marks_the_queued_jobs_of_a_node_whose_worker_went_away(nodes, settings):
    workers.beat(BULK_AND_CONTROL, host="alpha.local", pid=7)
    workers.beat([("beta", Lane.BULK)], host="beta.local", pid=9)
    alpha, _ = job_create(kind="ping", node=nodes["alpha"], params={}, enqueue=False)
    beta, _ = job_create(kind="ping", node=nodes["beta"], params={}, enqueue=False)
    beat_at("beta", Lane.BULK, settings.WORKER_OFFLINE_SECONDS + 1)
    jobs_recover()
    alpha.refresh_from_db()
    beta.refresh_from_db()
    assert alpha.message == ""
    assert beta.message.startswith("Waiting for BETA's worker") and beta.state == "queued"


def test_the_node_api_shows_each_nodes_workers(api_client, nodes, settings):
    workers.beat(BULK_AND_CONTROL, host="alpha.local", pid=7)
    beat_at("beta", Lane.BULK, 1)
    beat_at("beta", Lane.CONTROL, settings.WORKER_OFFLINE_SECONDS + 1)
    listed = {n["name"]: n["worker"] for n in api_client.get("/api/v1/nodes/").json()}
    assert listed["alpha"]["online"] and listed["alpha"]["bulk"]["host"] == "alpha.local"
    assert not listed["beta"]["online"]
    assert listed["beta"]["bulk"]["online"] and not listed["beta"]["control"]["online"]
    assert listed["gamma"] == {"online": False, "bulk": None, "control": None}
    assert api_client.get("/api/v1/nodes/alpha/").json()["worker"] == listed["alpha"]
