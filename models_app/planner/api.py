"""`POST /api/v1/plan/`: will these models fit, and how."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from models_app.planner import inputs


class PlanRequestSerializer(serializers.Serializer):
    models = serializers.ListField(child=serializers.CharField(max_length=80), max_length=50)
    context_tokens = serializers.IntegerField(min_value=0, max_value=2_000_000, default=65536)
    live = serializers.BooleanField(default=True, help_text="Plan on memory in use now")

    class Meta:
        ref_name = "PlanRequest"


class PlanApi(ApiView):
    write_permission = None  # a POST that only computes: every role may plan
    @extend_schema(request=PlanRequestSerializer, responses=dict)
    def post(self, request: Request) -> Response:
        data = PlanRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        live = data.validated_data["live"]
        result = inputs.memory_plan(slugs=data.validated_data["models"],
                                    context_tokens=data.validated_data["context_tokens"],
                                    live=live)
        return Response(inputs.plan_payload(
            result, live_nodes=inputs.live_node_names() if live else []))
