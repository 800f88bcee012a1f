"""REST API for the inventory's nodes and the live cluster: the latest poll, each node with
its live fields, and its memory and performance history."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from arthur_panel.errors import get_or_404
from arthur_panel.exceptions import DomainError
from cluster_app.models import Node
from cluster_app.nodes import poll
from cluster_app.nodes.live import HISTORY_TIERS
from cluster_app.nodes.perf_history import series_history
from cluster_app.nodes.serializers import NodeSerializer


class ClusterApi(ApiView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(poll.cluster_snapshot() or poll.cluster_poll_locked() or {})


class NodeHistoryApi(ApiView):
    @extend_schema(parameters=[OpenApiParameter("tier", enum=list(HISTORY_TIERS))], responses=dict)
    def get(self, request: Request, name: str) -> Response:
        node = get_or_404(Node.objects.all(), "Node", name=name)
        tier = request.query_params.get("tier", "10s")
        if tier not in HISTORY_TIERS:
            raise DomainError(f"tier must be one of {', '.join(HISTORY_TIERS)}.",
                              code="invalid_tier")
        width, window = HISTORY_TIERS[tier]
        return Response({"node": node.name, "tier": tier, "bucket_seconds": width,
                         "window_seconds": window, "samples": poll.memory_history(node, tier),
                         "series": series_history(node, tier)})


class NodeListApi(ApiView):
    @extend_schema(responses=NodeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(NodeSerializer(Node.objects.all(), many=True).data)


class NodeDetailApi(ApiView):
    @extend_schema(responses=NodeSerializer)
    def get(self, request: Request, name: str) -> Response:
        return Response(NodeSerializer(get_or_404(Node.objects.all(), "Node", name=name)).data)
