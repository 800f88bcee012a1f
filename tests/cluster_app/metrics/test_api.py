"""`GET /metrics`: who may scrape (a key with the read scope, or an allow-listed address), the
one error shape for everyone else, and the state families read from the database."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from cluster_app.metrics import registry
from cluster_app.models import Alert, AlertRule, ApiToken, HealthResult, Job, Node

pytestmark = pytest.mark.django_db


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    return body["error"]


def with_key(user, scopes):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user=user, scopes=scopes)[1]}")
    return client


def families(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def samples(family):
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_an_anonymous_scraper_is_told_to_send_a_key():
    response = APIClient().get("/metrics")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_key_without_the_read_scope_is_refused(alice):
    response = with_key(alice, ["chat"]).get("/metrics")
    assert response.status_code == 403
    assert error_of(response)["code"] == "scope_denied"


def test_a_browser_session_is_not_a_scraper(alice):
    client = APIClient()
    client.force_login(alice)
    response = client.get("/metrics")
    assert response.status_code == 403
    assert error_of(response) == {"code": "key_required", "message": (
        "GET /metrics needs an API key with the 'read' scope (Authorization: Bearer), or a "
        "scraper address listed in METRICS_ALLOWED_ADDRESSES.")}


def test_a_read_key_scrapes_the_nodes_jobs_and_health(alice, nodes):
    Node.objects.filter(name="alpha").update(
        status=Node.Status.ONLINE, ram_used=400 * 2**30, ram_total=512 * 2**30, swap_used=0,
        disk_free=2 * 2**40, gpu_usage=0.5, temperature=51.5, power=120.0, exo_pid=4321,
        exo_started_at=timezone.now() - timedelta(minutes=5))
    Job.objects.create(kind="ping", node=nodes["alpha"], state=Job.State.QUEUED)
    Job.objects.create(kind="ping", node=nodes["alpha"], state=Job.State.QUEUED)
    HealthResult.objects.create(name="exo", scope="cluster", status="fail", summary="down",
                                checked_at=timezone.now())
    found = families(with_key(alice, ["read"]).get("/metrics"))
    alpha = (("node", "alpha"),)
    assert samples(found["arthur_node_memory_used_bytes"])[alpha] == 400 * 2**30
    assert samples(found["arthur_node_memory_total_bytes"])[alpha] == 512 * 2**30
    assert samples(found["arthur_node_up"]) == {alpha: 1, (("node", "beta"),): 0,
                                                (("node", "gamma"),): 0}
    assert samples(found["arthur_node_gpu_utilisation_ratio"])[alpha] == 0.5
    assert samples(found["arthur_node_temperature_celsius"])[alpha] == 51.5
    assert samples(found["arthur_node_power_watts"])[alpha] == 120
    assert samples(found["arthur_exo_process_up"])[alpha] == 1
    assert 299 <= samples(found["arthur_exo_process_uptime_seconds"])[alpha] < 400
    assert samples(found["arthur_jobs"])[(("kind", "ping"), ("state", "queued"))] == 2
    assert samples(found["arthur_health_check_status"]) == {
        (("check", "exo"), ("scope", "cluster"), ("status", "fail")): 1}
    # No poll yet: exo unknown, so down, and every pair of exo nodes has no link.
    assert samples(found["arthur_exo_up"]) == {(): 0}
    assert samples(found["arthur_link_up"]) == {
        (("a", "alpha"), ("b", "beta"), ("kind", kind)): 0 for kind in ("rdma", "tcp")}


def test_an_allow_listed_address_scrapes_without_a_key(settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/24")]
    assert APIClient(REMOTE_ADDR="10.0.0.7").get("/metrics").status_code == 200
    assert APIClient(REMOTE_ADDR="10.0.1.7").get("/metrics").status_code == 401


class AlertCollector:
    def collect(self):
        yield GaugeMetricFamily("arthur_test_alerts_firing", "Alerts firing.", value=2)


def test_another_part_of_the_panel_registers_its_own_collector(alice, monkeypatch):
    monkeypatch.setattr(registry, "COLLECTORS", list(registry.COLLECTORS))
    registry.register_collector(AlertCollector())
    found = families(with_key(alice, ["read"]).get("/metrics"))
    assert samples(found["arthur_test_alerts_firing"]) == {(): 2}


def test_active_alerts_are_scraped_and_resolved_ones_are_not(alice):
    rule, _ = AlertRule.objects.update_or_create(key="node_offline", defaults={
        "name": "Node offline", "severity": "critical"})
    now = timezone.now()
    Alert.objects.create(rule=rule, subject="beta", state=Alert.State.FIRING,
                         severity="critical", summary="BETA is offline", pending_since=now,
                         fired_at=now)
    Alert.objects.create(rule=rule, subject="gamma", state=Alert.State.RESOLVED,
                         severity="critical", summary="GAMMA was offline", pending_since=now,
                         resolved_at=now)
    found = families(with_key(alice, ["read"]).get("/metrics"))
    assert samples(found["arthur_alert_active"]) == {
        (("rule", "node_offline"), ("severity", "critical"), ("state", "firing"),
         ("subject", "beta")): 1}
