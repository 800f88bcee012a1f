"""Reading the audit log: the entries matching a page's or the API's filters, newest first."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from arthur_panel.exceptions import DomainError
from cluster_app.models import AuditEntry


@dataclass(frozen=True)
class AuditFilters:
    user: str = ""  # a username, exactly
    action: str = ""  # part of the action (`cluster` finds cluster.stop and its refusals)
    target: str = ""  # part of the target
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (the CSV link and the pages keep them)."""
        query = {"user": self.user, "action": self.action, "target": self.target,
                 "since": self.since.isoformat() if self.since else "",
                 "until": self.until.isoformat() if self.until else ""}
        return {key: value for key, value in query.items() if value}


def _moment(name: str, text: str, *, end_of_day: bool) -> datetime.datetime | None:
    """`text` as an aware time: an ISO time, or a date (its start, or its end for `until`)."""
    if not text:
        return None
    try:
        # The date first: a plain date would parse as a time too, at midnight.
        day = parse_date(text)
        moment = None if day else parse_datetime(text)
    except ValueError:
        moment = day = None
    if day is not None:
        moment = datetime.datetime.combine(day, datetime.time.max if end_of_day
                                           else datetime.time.min)
    if moment is None:
        raise DomainError(f"{name} must be a date (2026-12-04) or an ISO time "
                          "(2026-12-04T21:00:00Z).", code=f"invalid_{name}")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def audit_filters(params: Mapping[str, str]) -> AuditFilters:
    """The filters in query parameters `user`, `action`, `target`, `since`, `until`;
    DomainError for a time that is not one."""
    return AuditFilters(
        user=params.get("user", "").strip(), action=params.get("action", "").strip(),
        target=params.get("target", "").strip(),
        since=_moment("since", params.get("since", "").strip(), end_of_day=False),
        until=_moment("until", params.get("until", "").strip(), end_of_day=True))


def audit_entries(filters: AuditFilters) -> QuerySet[AuditEntry]:
    """The entries matching `filters`, newest first."""
    entries = AuditEntry.objects.all()
    if filters.user:
        entries = entries.filter(username=filters.user)
    if filters.action:
        entries = entries.filter(action__icontains=filters.action)
    if filters.target:
        entries = entries.filter(target__icontains=filters.target)
    if filters.since:
        entries = entries.filter(created_at__gte=filters.since)
    if filters.until:
        entries = entries.filter(created_at__lte=filters.until)
    return entries.order_by("-created_at", "-id")
