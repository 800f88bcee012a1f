"""REST API for downloads: start (or find) a model's download jobs, delete a copy, and the
model x node matrix."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from arthur_panel.exceptions import DomainError
from arthur_panel.schema import answers
from cluster_app.jobs.serializers import JobSerializer
from models_app.catalogue.selectors import model_named
from models_app.downloads import jobs as downloads
from models_app.downloads import matrix


class DownloadRequestSerializer(serializers.Serializer):
    node = serializers.CharField(max_length=40, required=False, allow_null=True,
                                 help_text='A node name, or "all"; default ALPHA, or every exo '
                                           "node for a tensor-parallel model")

    class Meta:
        ref_name = "DownloadRequest"


class ModelDownloadApi(ApiView):
    @answers(409)
    @extend_schema(request=DownloadRequestSerializer, responses={201: dict, 200: dict})
    def post(self, request: Request, slug: str) -> Response:
        data = DownloadRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        started = downloads.download_start(model=model_named(slug),
                                           node_name=data.validated_data.get("node"),
                                           user=request.user)
        any_new = any(created for _, created in started)
        return Response({"jobs": [JobSerializer(job).data for job, _ in started]},
                        status=status.HTTP_201_CREATED if any_new else status.HTTP_200_OK)

    @answers(409)
    @extend_schema(request=DownloadRequestSerializer, responses={202: JobSerializer})
    def delete(self, request: Request, slug: str) -> Response:
        data = DownloadRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = model_named(slug)
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
        return Response(matrix.downloads_matrix())
