"""Who may do what beyond reading: permissions named once, refused with one error."""

from __future__ import annotations

from typing import Any

from rest_framework import status

from arthur_panel.exceptions import DomainError

# Starting, stopping and restarting exo, on one node or the whole cluster.
OPERATE_EXO = "cluster_app.operate_exo"
# The group the seed gives OPERATE_EXO; admins (superusers) have every permission anyway.
OPERATOR_GROUP = "operator"


class PermissionRequired(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"


def require(user: Any, permission: str, action: str) -> None:
    """PermissionRequired, naming the missing permission, unless `user` has it."""
    if user is None or not user.has_perm(permission):
        raise PermissionRequired(
            f"{action} needs the '{permission}' permission (the {OPERATOR_GROUP} role): "
            "ask an admin to add you to the operator group.")
