"""The login throttling (django-axes) as the admin shows it per account: recent failures,
locked or not, and unlocking."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from cluster_app.audit.services import audited


def recent_failures(username: str) -> int:
    """Failed logins for `username` that still count towards a lockout (within the cool-off),
    from every address, as django-axes counts them."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    total = AccessAttempt.objects.filter(username=username, attempt_time__gte=since).aggregate(
        failures=Sum("failures_since_start"))["failures"]
    return int(total or 0)


def is_locked(username: str) -> bool:
    return recent_failures(username) >= settings.AXES_FAILURE_LIMIT


def accounts_unlock(*, users: Iterable[Any], by: Any) -> int:
    """Forget the failed logins of `users`, so they may sign in again; returns how many
    throttling records went."""
    names = [user.get_username() for user in users]
    with audited("user.unlock", target=", ".join(names), user=by) as entry:
        count = sum(reset(username=name) for name in names)
        entry.params["records"] = count
    return count
