"""Ending every session of an account ("log out everywhere")."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.utils import timezone

from cluster_app.audit.services import audited
from cluster_app.jobs.revocation import revoke, user_sessions_group


def user_session_keys(user: Any) -> list[str]:
    """The keys of `user`'s unexpired sessions (the database backend keeps them encoded)."""
    live = Session.objects.filter(expire_date__gt=timezone.now())
    return [session.session_key for session in live.iterator()
            if session.get_decoded().get(SESSION_KEY) == str(user.pk)]


def sessions_end_all(*, user: Any) -> int:
    """Delete every session of `user` and close the websockets opened with them (API tokens
    stay valid, as a new password leaves them); returns how many sessions ended."""
    with audited("logout.everywhere", target=user.get_username(), user=user) as entry:
        keys = user_session_keys(user)
        Session.objects.filter(session_key__in=keys).delete()
        entry.params["sessions"] = len(keys)
        revoke(user_sessions_group(user.pk))
    return len(keys)
