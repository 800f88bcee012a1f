"""Alert writes: evaluate every rule against the panel's state and move each alert through its
states (machine.py), queue the notices that causes, silence a rule and subject for a while."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from arthur_panel.exceptions import DomainError
from arthur_panel.redis_client import unless_under_way
from cluster_app.alerts import events
from cluster_app.alerts.conditions import CONDITIONS, Facts, Finding
from cluster_app.alerts.delivery import deliveries_queue
from cluster_app.alerts.machine import State, Step, Track, step
from cluster_app.alerts.selectors import active_alerts, current_facts, silenced_subjects
from cluster_app.audit.services import audited
from cluster_app.models import Alert, AlertChannel, AlertDelivery, AlertRule, AlertSilence

logger = logging.getLogger(__name__)

LOCK_KEY = "arthur:alerts-evaluate-lock"
MAX_SILENCE_MINUTES = 60 * 24 * 30


def alerts_evaluate_locked() -> bool:
    """Evaluate unless another evaluation is running; whether this one ran."""
    return unless_under_way(LOCK_KEY, 60, alerts_evaluate) is not None


def alerts_evaluate(*, facts: Facts | None = None, now: datetime | None = None) -> int:
    """Evaluate every rule (a disabled one holds for nothing, which resolves its alerts) and
    advance each alert; returns how many changed state."""
    now = now or timezone.now()
    facts = facts or current_facts(now=now)
    active = {(alert.rule_id, alert.subject): alert for alert in active_alerts()}
    silenced = silenced_subjects(now)
    changed = 0
    for rule in AlertRule.objects.all():
        condition = CONDITIONS.get(rule.key)
        try:
            findings = condition(facts, rule.threshold) if rule.enabled and condition else {}
        except Exception:
            # One rule tripping over odd facts must not silence every other rule, nor resolve
            # its own alerts: they stay as they are until it can be evaluated again.
            logger.exception("alert rule %s could not be evaluated", rule.key)
            continue
        subjects = set(findings) | {subject for (rule_id, subject) in active
                                    if rule_id == rule.pk}
        for subject in sorted(subjects):
            changed += _advance(rule, subject, active.get((rule.pk, subject)),
                                findings.get(subject), now=now,
                                silenced=(rule.pk, subject) in silenced)
    if changed:
        events.publish_alerts()
    return changed


def _track(alert: Alert) -> Track:
    return Track(State(alert.state), alert.pending_since, alert.fired_at, alert.resolved_at,
                 alert.notified)


def _advance(rule: AlertRule, subject: str, alert: Alert | None, finding: Finding | None, *,
             now: datetime, silenced: bool) -> int:
    """Move one alert a step; 1 when its state (or notice) changed, else 0."""
    before = _track(alert) if alert else None
    result = step(before, holds=finding is not None, now=now,
                  hold=timedelta(seconds=rule.for_seconds), silenced=silenced)
    if result.track is None:
        if alert is None:
            return 0
        # A pending alert whose condition cleared before its "for" ran out: nothing happened.
        Alert.objects.filter(pk=alert.pk, state=Alert.State.PENDING).delete()
        return 1
    try:
        with transaction.atomic():
            saved = _save(rule, subject, alert, finding, result)
            if saved is None:
                return 0
            if result.notice is not None:
                deliveries_queue(alert=saved, event=result.notice.value)
    except IntegrityError:
        # Another evaluation made this alert first: it is that one's to advance.
        return 0
    return int(result.track != before)


def _save(rule: AlertRule, subject: str, alert: Alert | None, finding: Finding | None,
          result: Step) -> Alert | None:
    """Write the step; None when another evaluation moved the alert since it was read."""
    track = result.track
    assert track is not None
    fields: dict[str, Any] = {"state": track.state.value, "fired_at": track.fired_at,
                              "resolved_at": track.resolved_at, "notified": track.notified}
    if finding is not None:
        fields |= {"summary": finding.summary[:500], "labels": finding.labels,
                   "hint": finding.hint}
    if alert is None:
        return Alert.objects.create(rule=rule, subject=subject, severity=rule.severity,
                                    pending_since=track.pending_since, **fields)
    if not Alert.objects.filter(pk=alert.pk, state=alert.state,
                                notified=alert.notified).update(**fields):
        return None
    for name, value in fields.items():
        setattr(alert, name, value)
    return alert


def alert_silence(*, rule_key: str, subject: str, minutes: int, user: Any,
                  reason: str = "") -> AlertSilence | None:
    """Silence `rule_key` for `subject` for `minutes` (0 lifts the silence); the silence, or
    None when lifted. Audited."""
    if not 0 <= minutes <= MAX_SILENCE_MINUTES:
        raise DomainError(f"'minutes' must be 0 to {MAX_SILENCE_MINUTES}.", code="bad_minutes")
    with audited("alert.silence" if minutes else "alert.unsilence",
                 target=f"{rule_key} {subject}", params={"minutes": minutes}, user=user):
        rule = AlertRule.objects.filter(key=rule_key).first()
        if rule is None:
            raise DomainError(f"No alert rule '{rule_key}': Admin > Alert rules lists them.",
                              code="unknown_rule")
        silence = None
        if minutes:
            silence, _ = AlertSilence.objects.update_or_create(
                rule=rule, subject=subject, defaults={
                    "until": timezone.now() + timedelta(minutes=minutes),
                    "reason": reason[:200], "created_by": user})
        else:
            AlertSilence.objects.filter(rule=rule, subject=subject).delete()
        transaction.on_commit(events.publish_alerts)
    return silence


def alerts_prune(*, days: int | None = None) -> int:
    """Delete resolved alerts (and their deliveries) and ended silences older than `days`
    (ALERT_RETENTION_DAYS); returns how many alerts."""
    cutoff = timezone.now() - timedelta(days=days or settings.ALERT_RETENTION_DAYS)
    _, deleted = Alert.objects.filter(state=Alert.State.RESOLVED, resolved_at__lt=cutoff).delete()
    AlertSilence.objects.filter(until__lt=cutoff).delete()
    return deleted.get(Alert._meta.label, 0)


def channels_test(*, channels: list[AlertChannel], user: Any) -> list[AlertDelivery]:
    """Queue a test notice to each of `channels` (enabled or not: it is how one is tried)."""
    with audited("alert.channel.test", target=", ".join(c.name for c in channels)[:200],
                 user=user):
        return deliveries_queue(alert=None, event=AlertDelivery.Event.TEST, channels=channels)
