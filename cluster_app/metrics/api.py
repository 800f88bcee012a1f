"""`GET /metrics`: the panel's families in Prometheus's text format, for a scraper holding an
API key with the `read` scope, or calling from an address in METRICS_ALLOWED_ADDRESSES."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from arthur_panel.api import ApiView
from cluster_app.access.permissions import PermissionRequired, require
from cluster_app.access.rules import READ
from cluster_app.metrics.registry import scrape
from cluster_app.metrics.rules import address_allowed
from cluster_app.models import ApiToken

ACTION = "GET /metrics"
# The text format every Prometheus reads (the panel's names need none of 1.0.0's escaping).
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


class ScraperPermission(BasePermission):
    """An allow-listed address, else a key with the read scope. A browser session is not
    enough: a scraper is a script, and a page has no use for the text format."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if address_allowed(request.META.get("REMOTE_ADDR"), settings.METRICS_ALLOWED_NETWORKS):
            return True
        if request.user is None or not request.user.is_authenticated:
            return False  # DRF answers 401, saying to send a key
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            raise PermissionRequired(
                f"{ACTION} needs an API key with the '{READ}' scope (Authorization: Bearer), or "
                "a scraper address listed in METRICS_ALLOWED_ADDRESSES.", code="key_required")
        require(request.user, None, ACTION, token=token, scope=READ)
        return True


class MetricsApi(ApiView):
    permission_classes = [ScraperPermission]

    @extend_schema(responses={(200, "text/plain"): OpenApiResponse(
        OpenApiTypes.STR, description="Prometheus text format 0.0.4")})
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(scrape(), content_type=TEXT_FORMAT)
