"""`/api/v1/logs/`: recent classified log lines, oldest first, filtered by node, class and text."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from arthur_panel.exceptions import DomainError
from cluster_app.logs.classify import CLASSES
from cluster_app.logs.ring import recent_lines
from cluster_app.models import Node

DEFAULT_LIMIT = 200
MAX_LIMIT = 5000


class LogQuery(serializers.Serializer):
    node = serializers.SlugField(max_length=40, required=False, allow_blank=True,
                                 help_text="One node's lines (all nodes when absent)")
    kind = serializers.ChoiceField(CLASSES, required=False, allow_blank=True,
                                   help_text="Lines of this class only")
    q = serializers.CharField(max_length=200, required=False, allow_blank=True,
                              trim_whitespace=False, help_text="Text found in the line, any case")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)

    class Meta:
        ref_name = "LogQuery"


class LogLine(serializers.Serializer):
    node = serializers.CharField()
    file = serializers.CharField(help_text="The followed file the line is from")
    seq = serializers.IntegerField(help_text="Numbers the node's lines, in order")
    ts = serializers.FloatField(help_text="When the follower read it (Unix time)")
    time = serializers.CharField(allow_null=True, help_text="exo's own time stamp, if any")
    level = serializers.CharField(allow_null=True)
    # Shadows Field.source for the type checker only: DRF's metaclass takes declared fields
    # off the class.
    source = serializers.CharField(  # type: ignore[assignment]
        allow_null=True, help_text="exo module:function:line")
    text = serializers.CharField()
    classes = serializers.ListField(child=serializers.ChoiceField(CLASSES))
    hint = serializers.CharField(allow_null=True, help_text="What to do about a known failure")

    class Meta:
        ref_name = "LogLine"


class LogListApi(ApiView):
    @extend_schema(parameters=[LogQuery], responses=LogLine(many=True))
    def get(self, request: Request) -> Response:
        query = LogQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data
        names = list(Node.objects.values_list("name", flat=True))
        if node := wanted.get("node"):
            if node not in names:
                raise DomainError(f"No node named '{node}'; nodes: {', '.join(names)}.",
                                  code="unknown_node")
            names = [node]
        return Response(recent_lines(names, limit=wanted["limit"], kind=wanted.get("kind") or None,
                                     query=wanted.get("q") or None))
