"""Evaluating the rules: one alert per rule and subject, pending while its "for" runs, one
firing notice per channel, a resolved notice when it clears, silences and disabled rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cluster_app.alerts.conditions import CONDITIONS, Facts, LinkFacts, NodeFacts
from cluster_app.alerts.services import alert_silence, alerts_evaluate, alerts_prune
from cluster_app.exo.state import RDMA
from cluster_app.models import Alert, AlertChannel, AlertDelivery, AlertRule, AuditEntry

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
GIB = 1024**3
BETA = NodeFacts("beta", "BETA", True, True, "online", ram_used=10 * GIB, ram_total=256 * GIB,
                 swap_used=0, disk_free=4000 * GIB, worker_online=True)
UP = Facts(exo_reachable=True, nodes=(BETA,), links=(LinkFacts("alpha", "beta", RDMA),))
DOWN = replace(UP, nodes=(replace(BETA, status="offline", status_reason="gone"),))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def channels(django_capture_on_commit_callbacks):
    # Deliveries are queued on commit: the captured callbacks are never run here.
    return [AlertChannel.objects.create(name="hook", kind="webhook", url="http://127.0.0.1:9/"),
            AlertChannel.objects.create(name="phone", kind="ntfy", url="http://127.0.0.1:9/t")]


def deliveries() -> list[tuple[str, str, str]]:
    return [(d.event, d.channel.name, d.alert.subject if d.alert else "")
            for d in AlertDelivery.objects.order_by("id")]


def test_an_offline_node_fires_once_and_resolves_once():
    assert alerts_evaluate(facts=DOWN, now=at(0)) == 1
    (alert,) = Alert.objects.all()
    assert (alert.rule.key, alert.subject, alert.state, alert.fired_at) == (
        "node_offline", "beta", "firing", at(0))
    assert alert.labels == {"node": "beta"} and alert.severity == "critical"
    assert deliveries() == [("firing", "hook", "beta"), ("firing", "phone", "beta")]

    assert alerts_evaluate(facts=DOWN, now=at(10)) == 0  # still firing: no new notice
    assert len(deliveries()) == 2

    assert alerts_evaluate(facts=UP, now=at(20)) == 1
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_at) == ("resolved", at(20))
    assert deliveries()[2:] == [("resolved", "hook", "beta"), ("resolved", "phone", "beta")]
    assert AlertDelivery.objects.get(event="resolved", channel__name="hook").payload[
        "alert"]["state"] == "resolved"


def test_a_node_offline_again_is_a_new_alert_and_the_old_stays_history():
    alerts_evaluate(facts=DOWN, now=at(0))
    alerts_evaluate(facts=UP, now=at(10))
    alerts_evaluate(facts=DOWN, now=at(20))
    assert list(Alert.objects.order_by("id").values_list("state", flat=True)) == [
        "resolved", "firing"]


def test_a_rule_with_a_for_is_pending_until_it_runs_out():
    AlertRule.objects.filter(key="node_offline").update(for_seconds=30)
    alerts_evaluate(facts=DOWN, now=at(0))
    assert Alert.objects.get().state == "pending" and deliveries() == []
    alerts_evaluate(facts=DOWN, now=at(29))
    assert Alert.objects.get().state == "pending"
    alerts_evaluate(facts=DOWN, now=at(30))
    assert Alert.objects.get().state == "firing"
    assert len(deliveries()) == 2


def test_a_pending_alert_that_clears_leaves_nothing():
    AlertRule.objects.filter(key="node_offline").update(for_seconds=30)
    alerts_evaluate(facts=DOWN, now=at(0))
    assert alerts_evaluate(facts=UP, now=at(10)) == 1
    assert not Alert.objects.exists() and deliveries() == []


def test_thresholds_come_from_the_rule_row():
    hot = replace(UP, nodes=(replace(BETA, ram_used=200 * GIB),))  # 78%
    AlertRule.objects.filter(key="memory_warning").update(for_seconds=0)
    alerts_evaluate(facts=hot, now=at(0))
    assert list(Alert.objects.values_list("rule__key", flat=True)) == ["memory_warning"]
    AlertRule.objects.filter(key="memory_warning").update(threshold=0.80)
    alerts_evaluate(facts=hot, now=at(10))
    assert Alert.objects.get().state == "resolved"


def test_a_disabled_rule_resolves_its_alerts_and_fires_no_more():
    alerts_evaluate(facts=DOWN, now=at(0))
    AlertRule.objects.filter(key="node_offline").update(enabled=False)
    alerts_evaluate(facts=DOWN, now=at(10))
    assert Alert.objects.get().state == "resolved"
    alerts_evaluate(facts=DOWN, now=at(20))
    assert Alert.objects.count() == 1


def test_a_silenced_alert_fires_quietly_and_notifies_when_the_silence_is_lifted(operator):
    alert_silence(rule_key="node_offline", subject="beta", minutes=60, user=operator)
    alerts_evaluate(facts=DOWN)
    alert = Alert.objects.get()
    assert alert.state == "firing" and not alert.notified and deliveries() == []
    alert_silence(rule_key="node_offline", subject="beta", minutes=0, user=operator)
    alerts_evaluate(facts=DOWN)
    assert [event for event, _, _ in deliveries()] == ["firing", "firing"]


def test_a_silence_ended_by_time_lets_the_notice_out(operator):
    alert_silence(rule_key="node_offline", subject="beta", minutes=1, user=operator)
    alerts_evaluate(facts=DOWN, now=datetime.now(UTC))
    assert deliveries() == []
    alerts_evaluate(facts=DOWN, now=datetime.now(UTC) + timedelta(minutes=2))
    assert len(deliveries()) == 2


def test_silencing_is_audited_and_checks_its_input(operator):
    silence = alert_silence(rule_key="node_offline", subject="beta", minutes=90,
                            user=operator, reason="moving BETA")
    assert silence is not None and silence.reason == "moving BETA"
    entry = AuditEntry.objects.get(action="alert.silence")
    assert (entry.username, entry.target, entry.params) == ("alice", "node_offline beta",
                                                            {"minutes": 90})
    with pytest.raises(Exception, match="No alert rule 'nope'"):
        alert_silence(rule_key="nope", subject="beta", minutes=5, user=operator)
    with pytest.raises(Exception, match="'minutes' must be"):
        alert_silence(rule_key="node_offline", subject="beta", minutes=-1, user=operator)


def test_prune_keeps_recent_history():
    alerts_evaluate(facts=DOWN, now=at(0))
    alerts_evaluate(facts=UP, now=at(10))
    assert alerts_prune(days=1) == 1  # T0 is in the past
    assert not Alert.objects.exists()


def test_every_seeded_rule_has_a_condition():
    assert set(AlertRule.objects.values_list("key", flat=True)) == set(CONDITIONS)


def test_a_rule_that_fails_leaves_its_alerts_and_the_other_rules_alone(monkeypatch):
    alerts_evaluate(facts=replace(DOWN, exo_reachable=True), now=at(0))

    def broken(facts, threshold):
        raise KeyError("links")

    monkeypatch.setitem(CONDITIONS, "node_offline", broken)
    hot = replace(DOWN, nodes=(replace(DOWN.nodes[0], ram_used=250 * GIB, ram_total=256 * GIB,
                                       status="online"),))
    alerts_evaluate(facts=hot, now=at(10))
    assert sorted(Alert.objects.values_list("rule__key", "state")) == [
        ("memory_critical", "firing"), ("memory_warning", "pending"), ("node_offline", "firing")]
