"""Audit services: record an action in the transaction of the change it records, record a
refusal after that transaction rolled back, prune old entries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from arthur_panel.exceptions import DomainError
from arthur_panel.redaction import configured_secrets
from cluster_app.audit.context import current_actor, mark_recorded
from cluster_app.audit.redact import redact, redact_text
from cluster_app.models import AuditEntry

Outcome = AuditEntry.Outcome
# Refusals an audited block records: forbidden, conflicting, too many.
REFUSALS = (403, 409, 429)


def record(*, action: str, target: str = "", params: dict[str, Any] | None = None,
           outcome: str = Outcome.OK, message: str = "", user: Any = None,
           request: HttpRequest | None = None) -> AuditEntry:
    """Write one entry, secrets redacted, for the acting user (`user`, else the request's),
    the request's API token and address. Raises if it cannot be written, so that a change
    recorded in the same transaction fails with it."""
    actor = current_actor(user=user, request=request)
    secrets = configured_secrets()
    entry = AuditEntry(
        user=actor.user, username=actor.user.get_username() if actor.user else "",
        token_id=actor.token.pk if actor.token else None,
        token_hint=actor.token.hint if actor.token else "", address=actor.address,
        action=action, target=redact_text(str(target), secrets)[:200],
        params=redact(params or {}, secrets), outcome=outcome,
        message=redact_text(message, secrets))
    entry.save()
    mark_recorded(actor.request)
    return entry


@dataclass
class Draft:
    """What an audited block fills in as it learns it (a new job's id, say)."""

    target: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@contextmanager
def audited(action: str, *, target: Any = "", params: dict[str, Any] | None = None,
            user: Any = None) -> Iterator[Draft]:
    """Run the block in a transaction that ends with its entry: if the entry cannot be
    written, the change is rolled back. A refusal (403, 409, 429) the block raises is recorded
    after the rollback, with its message, and raised on. The panel's own work (no user, no
    request) is not recorded."""
    draft = Draft(str(target), dict(params or {}))
    actor = current_actor(user=user)
    if actor.user is None and actor.request is None:
        # The panel's own work (beat's health runs, a cluster job's node jobs): no one to hold
        # to account, and one entry a minute would bury the people's.
        with transaction.atomic():
            yield draft
        return
    try:
        with transaction.atomic():
            yield draft
            record(action=action, target=draft.target, params=draft.params, user=user)
    except DomainError as exc:
        if exc.status_code in REFUSALS:
            record(action=action, target=draft.target, params=draft.params, user=user,
                   outcome=Outcome.REFUSED, message=exc.message)
        raise


def audit_prune(*, days: int) -> int:
    """Delete entries older than `days`; returns how many."""
    deleted, _ = AuditEntry.objects.filter(
        created_at__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted
