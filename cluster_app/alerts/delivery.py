"""Notices to the channels an admin configured: one delivery row per channel and notice, sent
by a Celery task, retried with backoff, its attempts and last error kept for the admin. The
one place alerts talk out: to the channels' own URLs (set in the admin, never from a request)
and through Django's email settings."""

from __future__ import annotations

import logging
import smtplib
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from arthur_panel.celery import Lane
from arthur_panel.celery import app as celery_app
from cluster_app.alerts import payloads
from cluster_app.alerts.events import alert_payload
from cluster_app.models import Alert, AlertChannel, AlertDelivery

logger = logging.getLogger(__name__)

Kind = AlertChannel.Kind
Status = AlertDelivery.Status
DELIVER_TASK = "cluster_app.tasks.alert_deliver_task"
REQUESTS = {Kind.WEBHOOK: payloads.webhook_request, Kind.SLACK: payloads.slack_request,
            Kind.NTFY: payloads.ntfy_request}


class DeliveryError(Exception):
    pass


def _page_url() -> str:
    return f"{settings.PANEL_URL}{reverse('alerts')}" if settings.PANEL_URL else ""


def notice_body(alert: Alert | None, event: str) -> dict[str, Any]:
    """The generic webhook's JSON body (README, "Alerts"); every channel's text comes from it.
    A test notice has no alert: it says so."""
    if alert is None:
        described: dict[str, Any] = {
            "id": None, "rule": "test", "name": "Test notice", "severity": "warning",
            "subject": "", "labels": {}, "state": "test",
            "summary": "A test notice from ARTHUR Panel: this channel works.",
            "hint": "", "pending_since": None, "fired_at": None, "resolved_at": None}
    else:
        described = alert_payload(alert)
    return {"version": payloads.WEBHOOK_VERSION, "event": event,
            "alert": {**described, "url": _page_url()}, "sent_at": timezone.now().isoformat()}


def _enqueue(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        celery_app.send_task(DELIVER_TASK, args=[delivery_id], queue=Lane.CONTROL.value)


def deliveries_queue(*, alert: Alert | None, event: str,
                     channels: list[AlertChannel] | None = None) -> list[AlertDelivery]:
    """A delivery per enabled channel (the resolved notice only to those that want it), sent
    once the transaction commits."""
    if channels is None:
        channels = list(AlertChannel.objects.filter(enabled=True))
    if event == AlertDelivery.Event.RESOLVED:
        channels = [channel for channel in channels if channel.send_resolved]
    body = notice_body(alert, event)
    made = [AlertDelivery.objects.create(channel=channel, alert=alert, event=event, payload=body)
            for channel in channels]
    ids = [delivery.pk for delivery in made]
    transaction.on_commit(lambda: _enqueue(ids))
    return made


def _send(channel: AlertChannel, body: dict[str, Any]) -> None:
    if channel.kind == Kind.EMAIL:
        message = payloads.email_message(channel.recipient_list, body)
        send_mail(message.subject, message.body, settings.DEFAULT_FROM_EMAIL,
                  message.recipients)
        return
    request = REQUESTS[Kind(channel.kind)](channel.url, body)
    response = httpx.post(request.url, headers=request.headers, json=request.json,
                          content=request.content, timeout=settings.ALERT_TIMEOUT,
                          follow_redirects=False)
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling, at most 10 min."""
    return min(settings.ALERT_RETRY_SECONDS * 2 ** (attempts - 1), 600.0)


def delivery_send(*, delivery_id: int) -> float | None:
    """Try once; the seconds to wait before trying again, or None when done (sent, given up
    after ALERT_DELIVERY_ATTEMPTS, or gone)."""
    delivery = AlertDelivery.objects.select_related("channel").filter(
        pk=delivery_id, status__in=(Status.PENDING, Status.RETRYING)).first()
    if delivery is None:
        return None
    AlertDelivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    attempts = delivery.attempts + 1
    try:
        _send(delivery.channel, delivery.payload)
    except (httpx.HTTPError, DeliveryError, smtplib.SMTPException, OSError) as exc:
        error = str(exc) or type(exc).__name__
        final = attempts >= settings.ALERT_DELIVERY_ATTEMPTS
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.FAILED if final else Status.RETRYING, last_error=error[:1000])
        logger.warning("alert delivery %s to %s failed (attempt %s): %s", delivery.pk,
                       delivery.channel, attempts, error)
        return None if final else retry_delay(attempts)
    AlertDelivery.objects.filter(pk=delivery.pk).update(status=Status.SENT,
                                                        sent_at=timezone.now(), last_error="")
    return None
