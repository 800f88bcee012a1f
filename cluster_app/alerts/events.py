"""The alerts' live frame: the counts and the active alerts, to the `alerts` group. Browsers get
it on the page's jobs socket (a feed: cluster_app/jobs/feeds.py), scripts on `/ws/alerts/`."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from cluster_app.alerts.selectors import active_alerts, silenced_subjects
from cluster_app.jobs.events import publish
from cluster_app.jobs.feeds import frame_event
from cluster_app.models import Alert

ALERTS_GROUP = "alerts"


def alert_payload(alert: Alert) -> dict[str, Any]:
    """An alert as the API, the live frames and the webhook's body give it."""
    return {"id": alert.pk, "rule": alert.rule.key, "name": alert.rule.name,
            "severity": alert.severity, "subject": alert.subject, "labels": alert.labels,
            "state": alert.state, "summary": alert.summary, "hint": alert.hint,
            "pending_since": alert.pending_since.isoformat(),
            "fired_at": alert.fired_at.isoformat() if alert.fired_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None}


def alerts_summary() -> dict[str, Any]:
    """Counts (firing and not silenced: what the bell shows) and every active alert."""
    silenced = silenced_subjects(timezone.now())
    # Critical ones first.
    active = [{**alert_payload(alert), "silenced": (alert.rule_id, alert.subject) in silenced}
              for alert in active_alerts().order_by("severity", "pending_since")]
    firing = [alert for alert in active if alert["state"] == Alert.State.FIRING]
    return {"firing": sum(not alert["silenced"] for alert in firing),
            "firing_total": len(firing),
            "pending": len(active) - len(firing),
            "silenced": sum(alert["silenced"] for alert in active),
            "alerts": active}


def alerts_frame() -> dict[str, Any]:
    return {"type": "alerts", **alerts_summary()}


def publish_alerts() -> None:
    publish([ALERTS_GROUP], frame_event(alerts_frame()))
