"""Roles, permissions and API-key scopes: plain data and the rules between them (no Django).

Roles are Django groups holding permissions; scopes narrow what one API key of a user may do.
A request is allowed only if the user's role has the permission AND the key (when one is used)
has the scope that permission belongs to, so a key never exceeds its user's role.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

# Every job except starting and stopping exo: downloads, load/unload, health runs, the link
# benchmark, pings, and controlling jobs (cancel, pause, resume, delete); catalogue edits too.
RUN_JOBS = "cluster_app.run_jobs"
# Starting, stopping and restarting exo, on one node or the whole cluster.
OPERATE_EXO = "cluster_app.operate_exo"
# Node settings, the keys of other users, users and the admin site.
ADMINISTER = "cluster_app.administer"

VIEWER, OPERATOR, ADMIN_ROLE = "viewer", "operator", "admin"
# Each role has every permission of the one before; a user in no group is a viewer.
ROLES: dict[str, tuple[str, ...]] = {
    VIEWER: (),
    OPERATOR: (RUN_JOBS, OPERATE_EXO),
    ADMIN_ROLE: (RUN_JOBS, OPERATE_EXO, ADMINISTER),
}

CHAT, READ, OPERATE, ADMIN = "chat", "read", "operate", "admin"
SCOPES = (CHAT, READ, OPERATE, ADMIN)
# A wider scope includes the narrower management ones; chat stands alone (`/v1/*` only).
_INCLUDES: dict[str, frozenset[str]] = {
    CHAT: frozenset({CHAT}),
    READ: frozenset({READ}),
    OPERATE: frozenset({OPERATE, READ}),
    ADMIN: frozenset({ADMIN, OPERATE, READ}),
}
# The permission a user's role needs before a key of theirs may carry each scope.
SCOPE_PERMISSION: dict[str, str | None] = {
    CHAT: None, READ: None, OPERATE: RUN_JOBS, ADMIN: ADMINISTER}


def role_having(permission: str) -> str:
    """The least role with `permission`."""
    return next(role for role, permissions in ROLES.items() if permission in permissions)


def scope_for(permission: str | None) -> str:
    """The key scope an action needing `permission` (None: reading) falls under."""
    if permission is None:
        return READ
    return ADMIN if permission == ADMINISTER else OPERATE


def effective_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope a key with `scopes` has, the included ones added."""
    return frozenset().union(*(_INCLUDES[scope] for scope in scopes if scope in _INCLUDES))


def parse_scopes(values: Iterable[str]) -> list[str]:
    """Scopes from repeated or comma-separated values, in SCOPES order; ValueError names an
    unknown one."""
    wanted = {part.strip().lower() for value in values for part in value.split(",")} - {""}
    if unknown := sorted(wanted - set(SCOPES)):
        raise ValueError(f"Unknown scope {', '.join(unknown)}: scopes are {', '.join(SCOPES)}.")
    if not wanted:
        raise ValueError(f"Give at least one scope: {', '.join(SCOPES)}.")
    return [scope for scope in SCOPES if scope in wanted]


def scopes_beyond(scopes: Iterable[str], has_permission: Callable[[str], bool]) -> list[str]:
    """The scopes in `scopes` a user may not give a key, `has_permission` telling what the
    user's role has."""
    return [scope for scope in scopes
            if (needed := SCOPE_PERMISSION[scope]) is not None and not has_permission(needed)]


_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
          "w": timedelta(weeks=1)}


def parse_expiry(text: str, now: datetime) -> datetime:
    """When a key given `text` expires: a span from `now` (`30d`, `12h`, `2w`, `90m`) or an
    ISO date or date-time (a date: its start, in `now`'s zone); ValueError otherwise."""
    text = text.strip()
    if match := re.fullmatch(r"(\d{1,5})\s*([mhdw])", text.lower()):
        return now + int(match[1]) * _UNITS[match[2]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"Expiry '{text}' is neither a span like 30d, 12h, 2w, 90m nor an "
                         "ISO date like 2027-01-31.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    if moment <= now:
        raise ValueError(f"Expiry {text} is in the past.")
    return moment
