"""The base of every API view."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from rest_framework.views import APIView

from arthur_panel.exceptions import DomainError


class ApiView(APIView):
    """API views authenticate through DRF (401/403 JSON), not the login-page redirect."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return login_not_required(super().as_view(**initkwargs))


def query_limit(raw: str | None, *, default: int, most: int) -> int:
    """A list's `?limit=`: `default` when absent, kept within 1..`most`."""
    if raw is None:
        return default
    try:
        return max(1, min(int(raw), most))
    except ValueError:
        raise DomainError("limit must be a whole number.", code="invalid_limit") from None
