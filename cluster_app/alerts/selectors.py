"""Alert reads: the facts the rules are evaluated against (the last poll's snapshot, the
inventory, worker heartbeats, health results, jobs, recent log lines), and the alerts and
silences the page and the API list."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from arthur_panel.celery import Lane
from arthur_panel.exceptions import DomainError
from cluster_app.alerts.conditions import (
    Facts,
    HealthFacts,
    JobFacts,
    LinkFacts,
    LogFacts,
    NodeFacts,
    RunnerFacts,
)
from cluster_app.alerts.providers import largest_model
from cluster_app.jobs.workers import worker_online, workers_seen
from cluster_app.logs.ring import recent_lines
from cluster_app.models import Alert, AlertSilence, HealthResult, Job, Node
from cluster_app.nodes.poll import cluster_snapshot

# Failed jobs older than this are history, whatever a rule's window says.
JOB_LOOKBACK = timedelta(days=1)
# The newest lines the JACCL rule reads: a filtered read would decode every node's whole ring
# at each evaluation.
LOG_LINES = 1000
# The job kinds the rules watch, and the subject each names (model, or model@node).
WATCHED_KINDS = ("instance.load", "model.download")


def current_facts(*, now: datetime | None = None) -> Facts:
    now = now or timezone.now()
    snapshot = cluster_snapshot()
    nodes = list(Node.objects.defer("links"))
    seen = workers_seen()
    names = {node.name: node for node in nodes}
    return Facts(
        exo_reachable=None if snapshot is None else bool(snapshot["reachable"]),
        exo_error=snapshot.get("error") if snapshot else None,
        nodes=tuple(NodeFacts(
            node.name, node.display_name, node.in_exo_cluster, node.expects_rdma, node.status,
            node.status_reason, node.ram_used, node.ram_total, node.swap_used, node.disk_free,
            all(worker_online(node.name, lane, seen) for lane in Lane)) for node in nodes),
        links=tuple(LinkFacts(link["a"], link["b"], link["kind"])
                    for link in (snapshot or {}).get("links", [])),
        runners=tuple(
            RunnerFacts(instance["model_id"], runner.get("node") or "", runner["state"],
                        runner.get("error"))
            for instance in (snapshot or {}).get("instances", [])
            for runner in instance["runners"]),
        jobs=_newest_jobs(now),
        health=tuple(HealthFacts(r.name, r.scope, r.status, r.summary, r.hint)
                     for r in HealthResult.objects.all()),
        log_lines=_jaccl_lines(list(names)),
        largest_model=largest_model(),
        node_offline_seconds=settings.NODE_OFFLINE_SECONDS,
    )


def _subject(job: Job) -> str:
    model = str(job.params.get("model", "?"))
    return f"{model}@{job.node.name}" if job.node else model


def _newest_jobs(now: datetime) -> tuple[JobFacts, ...]:
    """The newest finished job of each watched kind and subject: a later success clears an
    earlier failure."""
    newest: dict[tuple[str, str], JobFacts] = {}
    for job in Job.objects.filter(kind__in=WATCHED_KINDS, state__in=Job.FINISHED,
                                  finished_at__gte=now - JOB_LOOKBACK).select_related(
            "node").order_by("finished_at", "id"):
        assert job.finished_at is not None
        subject = _subject(job)
        newest[(job.kind, subject)] = JobFacts(
            job.kind, subject, job.state == Job.State.FAILED,
            (now - job.finished_at).total_seconds(), job.error[:300], job.pk)
    return tuple(newest.values())


def _jaccl_lines(nodes: list[str]) -> tuple[LogFacts, ...]:
    wall = time.time()  # the follower stamps lines with the wall clock
    return tuple(LogFacts(line["node"], line["text"], tuple(line["classes"]),
                          max(0.0, wall - float(line["ts"])), line.get("hint"))
                 for line in recent_lines(nodes, limit=LOG_LINES) if "jaccl" in line["classes"])


def silenced_subjects(now: datetime) -> set[tuple[int, str]]:
    """(rule id, subject) of every silence in force."""
    return set(AlertSilence.objects.filter(until__gt=now).values_list("rule_id", "subject"))


def active_alerts() -> QuerySet[Alert]:
    return Alert.objects.filter(state__in=Alert.ACTIVE).select_related("rule")


def silences_in_force(now: datetime | None = None) -> QuerySet[AlertSilence]:
    return AlertSilence.objects.filter(until__gt=now or timezone.now()).select_related(
        "rule", "created_by")


@dataclass(frozen=True)
class AlertFilters:
    state: str = ""
    rule: str = ""
    subject: str = ""
    since: datetime | None = None


def _time(value: str, name: str) -> datetime | None:
    if not value:
        return None
    moment = parse_datetime(value) or parse_datetime(f"{value}T00:00:00")
    if moment is None:
        raise DomainError(f"'{name}' must be a date or an ISO time, not '{value}'.",
                          code="bad_time")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def alert_filters(query: Any) -> AlertFilters:
    """The filters of a query string (state, rule, subject, since); DomainError for a bad
    state or time."""
    state = query.get("state", "").strip()
    if state and state not in Alert.State.values:
        raise DomainError(f"'state' must be one of {', '.join(Alert.State.values)}.",
                          code="bad_state")
    return AlertFilters(state, query.get("rule", "").strip(), query.get("subject", "").strip(),
                        _time(query.get("since", "").strip(), "since"))


def alert_history(filters: AlertFilters) -> QuerySet[Alert]:
    alerts = Alert.objects.select_related("rule")
    if filters.state:
        alerts = alerts.filter(state=filters.state)
    if filters.rule:
        alerts = alerts.filter(Q(rule__key__icontains=filters.rule)
                               | Q(rule__name__icontains=filters.rule))
    if filters.subject:
        alerts = alerts.filter(subject__icontains=filters.subject)
    if filters.since:
        alerts = alerts.filter(pending_since__gte=filters.since)
    return alerts
