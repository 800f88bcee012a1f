"""Notices reach each kind of channel: a real HTTP server for the webhook, ntfy and Slack,
Django's email outbox for email; a failed delivery is retried with backoff, then given up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cluster_app.alerts.delivery import deliveries_queue, delivery_send, notice_body, retry_delay
from cluster_app.models import Alert, AlertChannel, AlertDelivery, AlertRule
from tests.cluster_app.alerts.receiver import Receiver, running_receiver

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


@pytest.fixture
def receiver():
    with running_receiver() as running:
        yield running


@pytest.fixture
def alert():
    rule = AlertRule.objects.get(key="node_offline")
    return Alert.objects.create(
        rule=rule, subject="beta", labels={"node": "beta"}, state="firing", severity="critical",
        summary="BETA is offline: not in exo's cluster state (silent over 30 s)",
        hint="Is BETA awake?", pending_since=T0, fired_at=T0, notified=True)


def channel(kind: str, url: str = "", **fields: object) -> AlertChannel:
    return AlertChannel.objects.create(name=kind, kind=kind, url=url, **fields)


def send(made: list[AlertDelivery]) -> AlertDelivery:
    (delivery,) = made
    assert delivery_send(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    return delivery


def test_the_webhook_gets_the_documented_json_body(receiver: Receiver, alert, settings,
                                                   django_capture_on_commit_callbacks):
    settings.PANEL_URL = "https://panel.example.com"
    hook = channel("webhook", f"{receiver.url}/hook")
    delivery = send(deliveries_queue(alert=alert, event="firing", channels=[hook]))
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
    (request,) = receiver.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert set(body) == {"version", "event", "alert", "sent_at"}
    assert body["version"] == 1 and body["event"] == "firing"
    assert body["alert"] == {
        "id": alert.pk, "rule": "node_offline", "name": "Node offline", "severity": "critical",
        "subject": "beta", "labels": {"node": "beta"}, "state": "firing",
        "summary": "BETA is offline: not in exo's cluster state (silent over 30 s)",
        "hint": "Is BETA awake?", "pending_since": T0.isoformat(), "fired_at": T0.isoformat(),
        "resolved_at": None, "url": "https://panel.example.com/alerts/"}


def test_ntfy_gets_the_text_with_title_priority_and_tags(receiver: Receiver, alert,
                                                         django_capture_on_commit_callbacks):
    topic = channel("ntfy", f"{receiver.url}/arthur-alerts")
    send(deliveries_queue(alert=alert, event="firing", channels=[topic]))
    (request,) = receiver.requests
    assert request.path == "/arthur-alerts"
    assert request.headers["Title"] == "[FIRING critical] Node offline: beta"
    assert request.headers["Priority"] == "5"
    assert request.headers["Tags"] == "rotating_light"
    assert request.body.decode() == (
        "BETA is offline: not in exo's cluster state (silent over 30 s)\nIs BETA awake?")


def test_slack_gets_a_text_message(receiver: Receiver, alert,
                                   django_capture_on_commit_callbacks):
    slack = channel("slack", f"{receiver.url}/services/T0/B0/x")
    Alert.objects.filter(pk=alert.pk).update(state="resolved", resolved_at=T0)
    alert.refresh_from_db()
    send(deliveries_queue(alert=alert, event="resolved", channels=[slack]))
    assert receiver.bodies() == [{"text": "[RESOLVED] Node offline: beta\n"
                                          "BETA is offline: not in exo's cluster state "
                                          "(silent over 30 s)"}]


def test_email_goes_through_djangos_email_settings(alert, mailoutbox, settings,
                                                   django_capture_on_commit_callbacks):
    settings.DEFAULT_FROM_EMAIL = "panel@arthur.example"
    mail = channel("email", recipients="owner@arthur.example, ops@arthur.example")
    delivery = send(deliveries_queue(alert=alert, event="firing", channels=[mail]))
    assert delivery.status == "sent"
    (message,) = mailoutbox
    assert message.to == ["owner@arthur.example", "ops@arthur.example"]
    assert message.from_email == "panel@arthur.example"
    assert message.subject == "ARTHUR Panel [FIRING critical] Node offline: beta"
    assert "BETA is offline" in message.body and "Is BETA awake?" in message.body


def test_a_test_notice_says_it_is_one(receiver: Receiver, django_capture_on_commit_callbacks):
    hook = channel("webhook", receiver.url)
    send(deliveries_queue(alert=None, event="test", channels=[hook]))
    (body,) = receiver.bodies()
    assert body["event"] == "test"
    assert body["alert"]["name"] == "Test notice" and body["alert"]["id"] is None


def test_a_failing_channel_is_retried_with_backoff_then_given_up(
        receiver: Receiver, alert, settings, django_capture_on_commit_callbacks):
    settings.ALERT_RETRY_SECONDS = 10.0
    settings.ALERT_DELIVERY_ATTEMPTS = 3
    receiver.status = 503
    (delivery,) = deliveries_queue(alert=alert, event="firing",
                                   channels=[channel("webhook", receiver.url)])
    assert delivery_send(delivery_id=delivery.pk) == 10.0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        "retrying", 1, "HTTP 503: ok")
    assert delivery_send(delivery_id=delivery.pk) == 20.0
    assert delivery_send(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert len(receiver.requests) == 3
    assert delivery_send(delivery_id=delivery.pk) is None  # given up: not tried again
    assert len(receiver.requests) == 3


def test_an_unreachable_channel_is_retried_and_recovers(alert, settings,
                                                        django_capture_on_commit_callbacks):
    settings.ALERT_RETRY_SECONDS = 1.0
    with running_receiver() as gone:
        url = gone.url
    (delivery,) = deliveries_queue(alert=alert, event="firing", channels=[channel("webhook", url)])
    assert delivery_send(delivery_id=delivery.pk) == 1.0
    delivery.refresh_from_db()
    assert delivery.status == "retrying" and delivery.last_error


def test_backoff_doubles_up_to_ten_minutes(settings):
    settings.ALERT_RETRY_SECONDS = 10.0
    assert [retry_delay(n) for n in (1, 2, 3, 6, 7, 20)] == [10, 20, 40, 320, 600, 600]


def test_the_resolved_notice_skips_channels_that_do_not_want_it(
        alert, django_capture_on_commit_callbacks):
    channel("webhook", "http://127.0.0.1:9/a")
    channel("slack", "http://127.0.0.1:9/b", send_resolved=False)
    channel("ntfy", "http://127.0.0.1:9/c", enabled=False)
    made = deliveries_queue(alert=alert, event="resolved")
    assert [d.channel.name for d in made] == ["webhook"]
    assert [d.channel.name for d in deliveries_queue(alert=alert, event="firing")] == [
        "slack", "webhook"]


def test_notice_body_is_json_safe(alert):
    body = notice_body(alert, "firing")
    assert body["alert"]["url"] == ""  # no PANEL_URL: no link
