"""`/api/v1/health/`: the latest health results; POST runs the checks now (a job). And
`/api/v1/health/doctor/`, the same for the doctor's checks of the deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from cluster_app.health.doctor import doctor_report, doctor_start
from cluster_app.health.services import health_report, health_start
from cluster_app.jobs.serializers import JobSerializer
from cluster_app.models import Job


class ChecksApi(ApiView):
    """A set of checks: GET their latest results; POST runs them now, as a job (201), or
    answers the run already under way (200)."""

    report: Callable[[], dict[str, Any]]
    start: Callable[..., tuple[Job, bool]]

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(type(self).report())

    @extend_schema(request=None, responses={201: JobSerializer, 200: JobSerializer})
    def post(self, request: Request) -> Response:
        job, created = type(self).start(user=request.user)
        return Response(JobSerializer(job).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class HealthApi(ChecksApi):
    report = staticmethod(health_report)
    start = staticmethod(health_start)


class DoctorApi(ChecksApi):
    report = staticmethod(doctor_report)
    start = staticmethod(doctor_start)
