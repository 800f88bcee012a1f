"""`GET /api/v1/usage/`: recent requests, measured speed per model, the week's savings; and
`GET /api/v1/usage/now/`: the cluster's output in the last minute."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from models_app.usage import records


class UsageApi(ApiView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(records.usage_summary())


class UsageNowApi(ApiView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(records.current_rate())
