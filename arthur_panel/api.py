"""The base of every API view."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from rest_framework.views import APIView


class ApiView(APIView):
    """API views authenticate through DRF (401/403 JSON), not the login-page redirect."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return login_not_required(super().as_view(**initkwargs))
