"""`/api/v1/benchmarks/`: model benchmarks (list, start one), one benchmark with its runs and
summary, and its runs as CSV."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView, query_limit
from arthur_panel.errors import get_or_404
from arthur_panel.schema import answers
from cluster_app.exo.ids import InstanceIdField
from cluster_app.jobs.serializers import JobSerializer
from models_app.bench import core, selectors
from models_app.bench.services import benchmark_start
from models_app.models import Benchmark

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_PROMPT_TOKENS = 131_072
MAX_ANSWER_TOKENS = 8192


class BenchmarkStartSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=200, help_text="Any catalogue name of the model")
    mode = serializers.ChoiceField(Benchmark.Mode.choices, default=Benchmark.Mode.PLACEMENTS,
                                   help_text="instance: the ready instance as it is; "
                                             "placements: every placement exo offers, in turn")
    instance_id = InstanceIdField(required=False, default="",
                                  help_text="instance mode: this instance (else the model's "
                                            "first ready one)")
    prompt_lengths = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_PROMPT_TOKENS),
        min_length=1, max_length=6, default=list(core.DEFAULT_PROMPT_LENGTHS),
        help_text="prompt tokens of each cell (capped by the model's context)")
    generation_lengths = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ANSWER_TOKENS),
        min_length=1, max_length=4, default=list(core.DEFAULT_GENERATION_LENGTHS),
        help_text="max_tokens of each cell")
    runs = serializers.IntegerField(min_value=1, max_value=10, default=core.DEFAULT_RUNS,
                                    help_text="runs of each cell")

    class Meta:
        ref_name = "BenchmarkStart"


class BenchmarkSerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True)
    verdict = serializers.SerializerMethodField(
        help_text="The best placement's generation speed against the guide's")
    electricity_usd_per_kwh = serializers.DecimalField(max_digits=8, decimal_places=4,
                                                       read_only=True)

    class Meta:
        model = Benchmark
        fields = ["id", "model_id", "slug", "mode", "prompt_lengths", "generation_lengths",
                  "runs_per_cell", "expected_tokens_per_second", "electricity_usd_per_kwh",
                  "job", "verdict", "created_at"]
        read_only_fields = fields
        ref_name = "Benchmark"

    def get_verdict(self, benchmark: Benchmark) -> dict[str, Any]:
        return selectors.summary(benchmark)["verdict"]


class BenchmarkDetailSerializer(BenchmarkSerializer):
    summary = serializers.SerializerMethodField(
        help_text="Medians per placement and cell; verdicts, RDMA/TCP ratios and overheads "
                  "against the guide")

    class Meta(BenchmarkSerializer.Meta):
        fields = [*BenchmarkSerializer.Meta.fields, "summary"]
        read_only_fields = fields
        ref_name = "BenchmarkDetail"

    def get_summary(self, benchmark: Benchmark) -> dict[str, Any]:
        return selectors.summary(benchmark)


def benchmark_list(*, model: str = "", limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """The newest benchmarks first, as the API shows them."""
    return serializers.ListSerializer(selectors.benchmarks(model=model)[:limit],
                                      child=BenchmarkSerializer()).data



class BenchmarkListApi(ApiView):
    @extend_schema(parameters=[OpenApiParameter("limit", int), OpenApiParameter("model", str)],
                   responses=BenchmarkSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(benchmark_list(model=request.query_params.get("model", ""),
                                       limit=query_limit(request.query_params.get("limit"),
                                                         default=DEFAULT_LIMIT, most=MAX_LIMIT)))

    @answers(404, 409, 429)
    @extend_schema(request=BenchmarkStartSerializer, responses={202: BenchmarkSerializer})
    def post(self, request: Request) -> Response:
        params = BenchmarkStartSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        benchmark = benchmark_start(**params.validated_data, user=request.user)
        return Response(BenchmarkSerializer(benchmark).data, status=status.HTTP_202_ACCEPTED)


class BenchmarkDetailApi(ApiView):
    @answers(404)
    @extend_schema(responses=BenchmarkDetailSerializer)
    def get(self, request: Request, benchmark_id: int) -> Response:
        benchmark = get_or_404(selectors.benchmarks(), "Benchmark", pk=benchmark_id)
        return Response(BenchmarkDetailSerializer(benchmark).data)


class BenchmarkCsvApi(ApiView):
    @answers(404)
    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)})
    def get(self, request: Request, benchmark_id: int) -> HttpResponse:
        benchmark = get_or_404(selectors.benchmarks(), "Benchmark", pk=benchmark_id)
        response = HttpResponse(selectors.csv_text(benchmark.runs.select_related("benchmark")),
                                content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="benchmark-{benchmark.pk}-{benchmark.slug or "model"}.csv"')
        return response
