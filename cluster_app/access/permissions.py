"""Who may do what beyond reading: permissions named once (see rules.py), refused with one
error naming what is missing: the permission and the role that has it, or the key's scope."""

from __future__ import annotations

from typing import Any

from rest_framework import status

from arthur_panel.exceptions import DomainError
from cluster_app.access.rules import (
    ADMINISTER,
    OPERATE_EXO,
    OPERATOR,
    RUN_JOBS,
    effective_scopes,
    role_having,
    scope_for,
)

__all__ = ["ADMINISTER", "OPERATE_EXO", "OPERATOR_GROUP", "RUN_JOBS", "PermissionRequired",
           "require"]

OPERATOR_GROUP = OPERATOR


class PermissionRequired(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"


def require(user: Any, permission: str | None, action: str, *, token: Any = None,
            scope: str | None = None) -> None:
    """PermissionRequired unless `user` has `permission` (None: reading, which every user may)
    and `token`, the API key of the request if it came with one, has `scope` (by default the
    one `permission` falls under)."""
    if token is not None:
        scope = scope or scope_for(permission)
        if scope not in effective_scopes(token.scopes):
            raise PermissionRequired(
                f"{action} needs an API key with the '{scope}' scope; this key has "
                f"{', '.join(token.scopes) or 'none'}.", code="scope_denied")
    if permission is not None and (user is None or not user.has_perm(permission)):
        role = role_having(permission)
        raise PermissionRequired(
            f"{action} needs the '{permission}' permission (the {role} role): "
            f"ask an admin to add you to the {role} group.")
