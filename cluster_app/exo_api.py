"""REST API for starting and stopping exo: the whole cluster, or one node. Each answers 202 with
the job (a second click gets the job already running)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.errors import get_or_404
from cluster_app import cluster_ops, exo_jobs
from cluster_app.api import ApiView
from cluster_app.models import Node
from cluster_app.permissions import OPERATE_EXO, require
from cluster_app.serializers import JobSerializer


class ClusterOperationApi(ApiView):
    operation: str = ""  # start, stop or restart

    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        require(request.user, OPERATE_EXO, f"The cluster {self.operation}")
        job = cluster_ops.cluster_job_start(operation=self.operation, user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class NodeOperationApi(ApiView):
    kind: str = ""  # exo.start or exo.stop

    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request: Request, name: str) -> Response:
        node = get_or_404(Node.objects.all(), "Node", name=name)
        require(request.user, OPERATE_EXO, "Starting or stopping exo")
        job = exo_jobs.node_job_start(kind=self.kind, node=node, user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
