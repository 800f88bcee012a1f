"""REST API for the catalogue: list, add from the Hub, read, edit, delete, import from exo."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.errors import DomainError
from cluster_app.api import ApiView
from cluster_app.exo_client import ExoClient
from cluster_app.serializers import JobSerializer
from models_app import download_matrix, downloads, planning, services, usage_records
from models_app.models import LlmModel
from models_app.selectors import model_by_slug
from models_app.serializers import (
    DownloadRequestSerializer,
    LlmModelSerializer,
    ModelAddSerializer,
    PlanRequestSerializer,
)


class ModelListApi(ApiView):
    @extend_schema(parameters=[OpenApiParameter("q"), OpenApiParameter("tier", enum=LlmModel.Tier.values),
                               OpenApiParameter("role", enum=LlmModel.ROLES)],
                   responses=LlmModelSerializer(many=True))
    def get(self, request: Request) -> Response:
        models = LlmModel.objects.all()
        if q := request.query_params.get("q", "").strip():
            models = models.filter(Q(slug__icontains=q) | Q(display_name__icontains=q)
                                   | Q(repo_id__icontains=q) | Q(notes__icontains=q))
        if tier := request.query_params.get("tier"):
            if tier not in LlmModel.Tier.values:
                raise DomainError(f"tier must be one of {', '.join(LlmModel.Tier.values)}.",
                                  code="invalid_tier")
            models = models.filter(tier=tier)
        rows = list(models)
        if role := request.query_params.get("role"):
            rows = [m for m in rows if role in m.roles]
        return Response(LlmModelSerializer(rows, many=True).data)

    @extend_schema(request=ModelAddSerializer, responses={201: LlmModelSerializer})
    def post(self, request: Request) -> Response:
        data = ModelAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_add_from_hub(repo_id=data.validated_data["repo_id"])
        return Response(LlmModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetailApi(ApiView):
    @extend_schema(responses=LlmModelSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(LlmModelSerializer(model_by_slug(slug)).data)

    @extend_schema(request=LlmModelSerializer, responses=LlmModelSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        data = LlmModelSerializer(model_by_slug(slug), data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(LlmModelSerializer(data.save()).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        model_by_slug(slug).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelImportExoApi(ApiView):
    @extend_schema(request=None, responses=LlmModelSerializer(many=True))
    def post(self, request: Request) -> Response:
        with ExoClient() as client:
            created = services.models_import_from_exo(client=client)
        return Response(LlmModelSerializer(created, many=True).data)


class PlanApi(ApiView):
    @extend_schema(request=PlanRequestSerializer, responses=dict)
    def post(self, request: Request) -> Response:
        data = PlanRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        live = data.validated_data["live"]
        result = planning.memory_plan(slugs=data.validated_data["models"],
                                      context_tokens=data.validated_data["context_tokens"], live=live)
        return Response(planning.plan_payload(
            result, live_nodes=planning.live_node_names() if live else []))


class ModelDownloadApi(ApiView):
    @extend_schema(request=DownloadRequestSerializer, responses={201: dict, 200: dict})
    def post(self, request: Request, slug: str) -> Response:
        data = DownloadRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        started = downloads.download_start(model=model_by_slug(slug),
                                           node_name=data.validated_data.get("node"),
                                           user=request.user)
        any_new = any(created for _, created in started)
        return Response({"jobs": [JobSerializer(job).data for job, _ in started]},
                        status=status.HTTP_201_CREATED if any_new else status.HTTP_200_OK)

    @extend_schema(request=DownloadRequestSerializer, responses={202: JobSerializer})
    def delete(self, request: Request, slug: str) -> Response:
        data = DownloadRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = model_by_slug(slug)
        name = data.validated_data.get("node")
        if not name or name == "all":
            raise DomainError('Name the node to delete it from: {"node": "alpha"}.',
                              code="node_required")
        (node,) = downloads.target_nodes(model, name)
        job = downloads.download_delete(model=model, node=node, user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class DownloadMatrixApi(ApiView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(download_matrix.downloads_matrix())


class UsageApi(ApiView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(usage_records.usage_summary())
