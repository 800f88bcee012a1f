"""The cluster poll in-process against the exo simulator: inventory, history, snapshot."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import redis
from django.utils import timezone

from arthur_panel.launcher import free_port
from cluster_app.exo.client import ExoClient
from cluster_app.models import Node, NodeMemorySample
from cluster_app.nodes import poll

pytestmark = pytest.mark.django_db
GIB = 1024**3


def run_poll(url, now=None):
    with ExoClient(url, retries=0) as client:
        return poll.cluster_poll(client=client, now=now)


def test_poll_fills_the_live_inventory(exo_url, nodes):
    snapshot = run_poll(exo_url)
    alpha, beta, gamma = (Node.objects.get(name=n) for n in ("alpha", "beta", "gamma"))
    assert (alpha.status, beta.status) == ("online", "online")
    # GAMMA is watched through its own worker's GPU readings, and none has come yet.
    assert (gamma.status, gamma.status_reason) == (
        "offline", "no GPU reading yet from its worker on node.gamma.control")
    assert alpha.ram_total == 512 * GIB and 0 < alpha.ram_used < alpha.ram_total
    assert alpha.exo_node_id and alpha.rdma_enabled is True and alpha.last_seen_at
    assert {link["kind"] for link in alpha.links} == {"rdma", "tcp"}
    assert {link["peer"] for link in alpha.links} == {"beta"}
    assert snapshot["reachable"] is True and snapshot["rdma_linked"] is True
    assert snapshot["totals"]["total"] == 768 * GIB
    assert poll.cluster_snapshot() == snapshot


def test_a_poll_reads_the_inventory_once(exo_url, nodes, django_assert_max_num_queries):
    run_poll(exo_url)
    # The inventory, the changed live fields, each history's upsert and old buckets, and the
    # transaction: a field left unread would cost a query per node.
    with django_assert_max_num_queries(8) as queries:
        run_poll(exo_url)
    assert not [query for query in queries.captured_queries
                if query["sql"].startswith("SELECT") and '"links"' in query["sql"]]


def test_links_are_written_when_they_change_and_only_then(exo_url, nodes):
    run_poll(exo_url)
    # Rows the poll rewrites would lose this mark; a poll that finds no change leaves it.
    Node.objects.filter(name="alpha").update(links=[{"peer": "unchanged"}])
    run_poll(exo_url)
    assert Node.objects.get(name="alpha").links == [{"peer": "unchanged"}]
    httpx.post(f"{exo_url}/_sim/nodes/BETA/rdma", json={"enabled": False}).raise_for_status()
    try:
        run_poll(exo_url)
        alpha = Node.objects.get(name="alpha")
        assert {link["kind"] for link in alpha.links} == {"tcp"} and alpha.rdma_enabled
    finally:
        httpx.post(f"{exo_url}/_sim/nodes/BETA/rdma", json={"enabled": True}).raise_for_status()
    run_poll(exo_url)
    assert {link["kind"] for link in Node.objects.get(name="alpha").links} == {"rdma", "tcp"}


def test_memory_history_keeps_one_peak_per_bucket(exo_url, nodes):
    now = timezone.now()
    run_poll(exo_url, now)
    run_poll(exo_url, now + timedelta(seconds=1))
    alpha = Node.objects.get(name="alpha")
    assert NodeMemorySample.objects.filter(node=alpha, tier="10s").count() in (1, 2)
    run_poll(exo_url, now + timedelta(hours=2))
    # The fine tier keeps an hour: the first buckets are gone, the coarse tier keeps them.
    assert NodeMemorySample.objects.filter(node=alpha, tier="10s").count() == 1
    assert NodeMemorySample.objects.filter(node=alpha, tier="5m").count() >= 2
    assert poll.memory_history(alpha, "5m")[0]["ram_total"] == 512 * GIB


def test_unreachable_exo_degrades_then_offlines_nodes(exo_url, nodes):
    now = timezone.now()
    run_poll(exo_url, now)
    closed = f"http://127.0.0.1:{free_port()}"
    soon = run_poll(closed, now + timedelta(seconds=5))
    assert soon["reachable"] is False and "not answering" in soon["error"]
    assert Node.objects.get(name="alpha").status == "degraded"
    later = run_poll(closed, now + timedelta(seconds=31))
    assert {n["name"]: n["status"] for n in later["nodes"]}["alpha"] == "offline"
    assert Node.objects.get(name="alpha").ram_total == 512 * GIB  # last known values stay


def test_never_two_polls_at_once(exo_url, nodes, settings):
    held = redis.Redis.from_url(settings.REDIS_URL).lock(poll.LOCK_KEY, timeout=10)
    assert held.acquire(blocking=False)
    try:
        assert poll.cluster_poll_locked() is None  # another poll is running: skip, do not queue
    finally:
        held.release()
    assert poll.cluster_poll_locked()["reachable"] is True
