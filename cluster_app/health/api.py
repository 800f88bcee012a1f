"""`/api/v1/health/`: the latest health results; POST runs the checks now (a job). And
`/api/v1/health/doctor/`, the same for the doctor's checks of the deployment."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from arthur_panel.schema import answers
from cluster_app.health.doctor import doctor_report, doctor_start
from cluster_app.health.services import health_report, health_start
from cluster_app.jobs.serializers import JobSerializer


class HealthApi(ApiView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(health_report())

    @answers(429)
    @extend_schema(request=None, responses={201: JobSerializer, 200: JobSerializer})
    def post(self, request: Request) -> Response:
        job, created = health_start(user=request.user)
        return Response(JobSerializer(job).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DoctorApi(ApiView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(doctor_report())

    @answers(429)
    @extend_schema(request=None, responses={201: JobSerializer, 200: JobSerializer})
    def post(self, request: Request) -> Response:
        job, created = doctor_start(user=request.user)
        return Response(JobSerializer(job).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
