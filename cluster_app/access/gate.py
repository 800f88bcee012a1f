"""The one check in front of every API route (REST_FRAMEWORK's default permission class)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from cluster_app.access.permissions import require
from cluster_app.access.rules import RUN_JOBS
from cluster_app.models import ApiToken


class RolePermission(BasePermission):
    """Authenticated, then through `require`: reading needs no permission (a key needs the read
    scope); a change needs the view's `write_permission`, RUN_JOBS unless the view says
    otherwise (None: a POST that only computes, like the planner), so a new route is closed to
    viewers until someone decides. A view may also name `key_scope`, the scope a key needs."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        permission = (None if request.method in SAFE_METHODS
                      else getattr(view, "write_permission", RUN_JOBS))
        token = request.auth if isinstance(request.auth, ApiToken) else None
        require(request.user, permission, f"{request.method} {request.path}", token=token,
                scope=getattr(view, "key_scope", None))
        return True
