"""REST API for jobs. Views are thin: validate, call one service, respond."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView, query_limit
from arthur_panel.errors import get_or_404
from arthur_panel.exceptions import DomainError
from arthur_panel.schema import answers
from cluster_app.access.permissions import require
from cluster_app.jobs import services
from cluster_app.jobs.registry import get_kind, startable_kinds
from cluster_app.jobs.serializers import JobCreateSerializer, JobSerializer
from cluster_app.models import Job

JOB_LIST_LIMIT = 200


def require_for_kind(request: Request, kind_name: str, action: str) -> None:
    """PermissionRequired unless the request's user (and key) may start or control jobs of
    this kind."""
    kind = get_kind(kind_name)
    if kind is not None:
        require(request.user, kind.permission, f"{action} a {kind_name} job", token=request.auth)


class JobListApi(ApiView):
    @extend_schema(responses=JobSerializer(many=True))
    def get(self, request: Request) -> Response:
        queryset = Job.objects.select_related("node", "created_by")
        for field in ("state", "kind"):
            if value := request.query_params.get(field):
                queryset = queryset.filter(**{field: value})
        if node := request.query_params.get("node"):
            queryset = queryset.filter(node__name=node)
        limit = query_limit(request.query_params.get("limit"), default=50, most=JOB_LIST_LIMIT)
        return Response(JobSerializer(queryset[:limit], many=True).data)

    @answers(409)
    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer})
    def post(self, request: Request) -> Response:
        data = JobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        require_for_kind(request, data.validated_data["kind"], "Starting")
        kind = get_kind(data.validated_data["kind"])
        if kind is None or kind.params is None:
            names = ", ".join(k.name for k in startable_kinds())
            raise DomainError(f"Job kind '{data.validated_data['kind']}' cannot be started here; "
                              f"kinds that can: {names}.", code="unknown_kind")
        params = kind.params(data=data.validated_data["params"])
        params.is_valid(raise_exception=True)
        job, _ = services.job_create(kind=kind.name, node=data.validated_data.get("node"),
                              params=dict(params.validated_data), user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(ApiView):
    @extend_schema(responses=JobSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = get_or_404(Job.objects.select_related("node", "created_by"), "Job", pk=job_id)
        return Response(JobSerializer(job).data)


class JobControlApi(ApiView):
    action: str = ""
    actions = {"cancel": (services.job_cancel, "Cancelling"),
               "pause": (services.job_pause, "Pausing"),
               "resume": (services.job_resume, "Resuming")}

    @answers(409)
    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request: Request, job_id: int) -> Response:
        job = get_or_404(Job.objects.select_related("node"), "Job", pk=job_id)
        service, verb = self.actions[self.action]
        require_for_kind(request, job.kind, verb)
        return Response(JobSerializer(service(job=job)).data)
