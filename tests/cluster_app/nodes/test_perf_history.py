"""Each node's performance history in-process: one peak per bucket and tier, the windows, the
cluster poll and GAMMA's GPU reading writing it, and the history API serving it."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from cluster_app.exo.client import ExoClient
from cluster_app.models import Node, NodeMemorySample, NodeMetricSample
from cluster_app.nodes import gpu_poll, poll
from cluster_app.nodes.live import bucket_start
from cluster_app.nodes.perf_history import record_series, series_history
from tests import stack as live

pytestmark = pytest.mark.django_db


def values(node, tier, series):
    return [row["value"] for row in series_history(node, tier).get(series, [])]


def test_each_bucket_keeps_the_peak_of_its_readings(nodes):
    alpha = nodes["alpha"]
    start = bucket_start(timezone.now(), 300)
    record_series([(alpha, {"power": 100.0, "net.lo.rx": 5.0})], start)
    record_series([(alpha, {"power": 250.0, "net.lo.rx": 1.0})], start + timedelta(seconds=3))
    record_series([(alpha, {"power": 80.0})], start + timedelta(seconds=12))
    assert values(alpha, "10s", "power") == [250.0, 80.0]
    assert values(alpha, "10s", "net.lo.rx") == [5.0]
    assert values(alpha, "5m", "power") == [250.0]


def test_each_tier_keeps_only_its_window(nodes):
    alpha, beta = nodes["alpha"], nodes["beta"]
    now = timezone.now()
    record_series([(alpha, {"gpu_usage": 0.5}), (beta, {"gpu_usage": 0.25})], now)
    record_series([(alpha, {"gpu_usage": 0.75})], now + timedelta(hours=2))
    # The fine tier keeps an hour (BETA's old bucket went too); the coarse one keeps a day.
    assert values(alpha, "10s", "gpu_usage") == [0.75]
    assert values(beta, "10s", "gpu_usage") == []
    assert values(alpha, "5m", "gpu_usage") == [0.5, 0.75]
    record_series([(alpha, {"gpu_usage": 0.1})], now + timedelta(days=2))
    assert values(alpha, "5m", "gpu_usage") == [0.1]


@pytest.mark.django_db(transaction=True)
def test_buckets_keep_their_peaks_on_every_database(nodes):
    """The peaks are kept by one statement of the database's own (an upsert): run on SQLite
    and on PostgreSQL."""
    # The live stack (if running, on this database) polls the cluster and writes ALPHA's and
    # BETA's samples too.
    with live.other_stacks_quiet():
        NodeMemorySample.objects.all().delete()
        NodeMetricSample.objects.all().delete()
        alpha, beta = nodes["alpha"], nodes["beta"]
        start = bucket_start(timezone.now(), 300)
        poll.record_memory([(alpha, 10, 100), (beta, 5, 50)], start)
        record_series([(alpha, {"power": 100.0})], start)
        poll.record_memory([(alpha, 30, 120), (beta, 1, 60)], start + timedelta(seconds=1))
        record_series([(alpha, {"power": 90.0})], start + timedelta(seconds=1))
        # A higher reading raises the peak and brings its total along; a lower one changes nothing.
        assert [(s["ram_used"], s["ram_total"]) for s in poll.memory_history(alpha, "5m")] == [
            (30, 120)]
        assert [(s["ram_used"], s["ram_total"]) for s in poll.memory_history(beta, "5m")] == [
            (5, 50)]
        assert values(alpha, "5m", "power") == [100.0]
        later = start + timedelta(days=2)
        poll.record_memory([(alpha, 7, 100)], later)
        record_series([(alpha, {"power": 80.0})], later)
        assert NodeMemorySample.objects.filter(bucket__lt=later - timedelta(days=1)).count() == 0
        assert values(alpha, "5m", "power") == [80.0]


def test_an_empty_reading_writes_nothing(nodes):
    record_series([(nodes["alpha"], {})], timezone.now())
    assert not NodeMetricSample.objects.exists()


def test_the_cluster_poll_records_gpu_power_temperature_and_swap(exo_url, nodes):
    with ExoClient(exo_url, retries=0) as client:
        poll.cluster_poll(client=client)
    alpha = Node.objects.get(name="alpha")
    history = series_history(alpha, "10s")
    assert {"gpu_usage", "temperature", "power", "swap_used"} <= set(history)
    assert history["power"][0]["value"] == alpha.power
    assert history["swap_used"][0]["value"] == alpha.swap_used


def test_gammas_gpu_reading_records_its_series(nodes):
    Node.objects.filter(name="gamma").update(
        gpu_probe_command=[sys.executable, "-m", "tests.nvml_fake"])
    gpu_poll.gpu_read(node_name="gamma")
    gamma = Node.objects.get(name="gamma")
    assert values(gamma, "5m", "power") == [95.93]
    assert values(gamma, "5m", "temperature") == [35.0]


def test_the_history_api_serves_the_series_of_the_tier_asked_for(api_client, nodes):
    now = timezone.now()
    record_series([(nodes["alpha"], {"net.bridge0.tx": 1e6})], now)
    body = api_client.get("/api/v1/nodes/alpha/history/?tier=5m").json()
    assert body["bucket_seconds"] == 300
    assert body["series"] == {"net.bridge0.tx": [
        {"at": bucket_start(now, 300).isoformat(), "value": 1e6}]}
    assert api_client.get("/api/v1/nodes/beta/history/").json()["series"] == {}
