"""`/api/v1/linkbench/`: recent link benchmarks against the guide's figures; POST runs one."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView, query_limit
from arthur_panel.schema import answers
from cluster_app.jobs.serializers import JobSerializer
from cluster_app.linkbench import core
from cluster_app.linkbench.job import LinkbenchParams, linkbench_start
from cluster_app.models import Job, LinkBenchmark

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class LinkBenchmarkSerializer(serializers.ModelSerializer):
    job: serializers.PrimaryKeyRelatedField[Job] = serializers.PrimaryKeyRelatedField(
        read_only=True)
    comparison = serializers.SerializerMethodField(
        help_text="Latency and bandwidth against the guide's figures for this backend's link")
    expected = serializers.SerializerMethodField(
        help_text="What the guide's RDMA and TCP figures predict at each measured size")

    class Meta:
        model = LinkBenchmark
        fields = ["id", "backend", "ranks", "hosts", "latency_us", "bandwidth_gbps", "points",
                  "comparison", "expected", "job", "created_at"]
        read_only_fields = fields
        ref_name = "LinkBenchmark"

    def get_comparison(self, benchmark: LinkBenchmark) -> dict[str, Any]:
        return core.compare(benchmark.backend, benchmark.latency_us, benchmark.bandwidth_gbps)

    def get_expected(self, benchmark: LinkBenchmark) -> dict[str, list[dict[str, float]]]:
        return core.expected_curves([int(point["bytes"]) for point in benchmark.points])


def recent_benchmarks(limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """The newest benchmarks first, as the API shows them."""
    # What many=True builds, spelled out: the type checker sees a list serializer's list.
    return serializers.ListSerializer(LinkBenchmark.objects.all()[:limit],
                                      child=LinkBenchmarkSerializer()).data



class LinkbenchApi(ApiView):
    @extend_schema(parameters=[OpenApiParameter("limit", int)],
                   responses=LinkBenchmarkSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(recent_benchmarks(query_limit(
            request.query_params.get("limit"), default=DEFAULT_LIMIT, most=MAX_LIMIT)))

    @answers(409)
    @extend_schema(request=LinkbenchParams, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        params = LinkbenchParams(data=request.data)
        params.is_valid(raise_exception=True)
        # A second click while one runs returns the running one.
        job, _ = linkbench_start(**params.validated_data, user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
