"""REST API for exo itself: starting and stopping it on the whole cluster or one node, the
models loaded into it (load, unload, placements) and its catalogue. Operations answer 202 with
their job (a second click gets the job already running)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from arthur_panel.errors import get_or_404
from arthur_panel.exceptions import DomainError, NotFound
from arthur_panel.schema import answers
from cluster_app.access.permissions import OPERATE_EXO
from cluster_app.exo import cluster_jobs, node_jobs
from cluster_app.exo.client import ExoClient
from cluster_app.exo.ids import is_instance_id
from cluster_app.exo.instances import LoadParams, UnloadParams
from cluster_app.exo.names import exo_model_id
from cluster_app.exo.state import normalise
from cluster_app.jobs import services
from cluster_app.jobs.serializers import JobSerializer
from cluster_app.models import Node
from cluster_app.nodes import poll


def _live_names() -> dict[str, str]:
    return {node.exo_node_id: node.name for node in Node.objects.exclude(exo_node_id="")}


class ClusterOperationApi(ApiView):
    operation: str = ""  # start, stop or restart
    write_permission = OPERATE_EXO

    @answers(409)
    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        job = cluster_jobs.cluster_job_start(operation=self.operation, user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class NodeOperationApi(ApiView):
    kind: str = ""  # exo.start or exo.stop
    write_permission = OPERATE_EXO

    @answers(409)
    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request: Request, name: str) -> Response:
        node = get_or_404(Node.objects.all(), "Node", name=name)
        job = node_jobs.node_job_start(kind=self.kind, node=node, user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class LoadRequest(serializers.Serializer):
    model = serializers.CharField(
        max_length=200, help_text="Any name of the model: catalogue slug or alias, Hugging Face "
                                  "repo id, exo id")
    sharding = serializers.ChoiceField(["Pipeline", "Tensor"], default="Pipeline")
    instance_meta = serializers.ChoiceField(["MlxRing", "MlxJaccl"], default="MlxRing")
    min_nodes = serializers.IntegerField(min_value=1, max_value=64, default=1)

    class Meta:
        ref_name = "InstanceLoadRequest"


class InstanceListApi(ApiView):
    @answers(502, 503)
    @extend_schema(responses=list[dict[str, Any]], operation_id="instances_list")
    def get(self, request: Request) -> Response:
        with ExoClient() as client:
            view = normalise(client.state())
        names = _live_names()
        return Response([poll.instance_payload(i, names) for i in view.instances])

    @answers(404, 409, 502, 503)
    @extend_schema(request=LoadRequest, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        data = LoadRequest(data=request.data)
        data.is_valid(raise_exception=True)
        with ExoClient() as client:
            model_id = exo_model_id(client, data.validated_data["model"])
        params = LoadParams(data={**data.validated_data, "model_id": model_id})
        params.is_valid(raise_exception=True)
        # A second click while the same model is loading returns the first load.
        job, _ = services.job_create(kind="instance.load", node=None,
                                 params=dict(params.validated_data), user=request.user,
                                 dedupe_key=model_id)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class InstanceDetailApi(ApiView):
    def _find(self, instance_id: str) -> dict[str, Any]:
        if not is_instance_id(instance_id):
            raise NotFound(f"Instance {instance_id[:40]} not found: exo's instance ids are UUIDs.")
        with ExoClient() as client:
            view = normalise(client.state())
        for instance in view.instances:
            if instance.instance_id == instance_id:
                return poll.instance_payload(instance, _live_names())
        raise NotFound(f"Instance {instance_id} not found on the cluster.")

    @answers(502, 503)
    @extend_schema(responses=dict)
    def get(self, request: Request, instance_id: str) -> Response:
        return Response(self._find(instance_id))

    @answers(409, 502, 503)
    @extend_schema(responses={202: JobSerializer})
    def delete(self, request: Request, instance_id: str) -> Response:
        self._find(instance_id)
        params = UnloadParams(data={"instance_id": instance_id})
        params.is_valid(raise_exception=True)
        job, _ = services.job_create(kind="instance.unload", node=None, dedupe_key=instance_id,
                                     params=dict(params.validated_data), user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class PreviewsApi(ApiView):
    @answers(404, 502, 503)
    @extend_schema(parameters=[OpenApiParameter("model", required=True)], responses=dict)
    def get(self, request: Request) -> Response:
        name = request.query_params.get("model", "")
        if not name:
            raise DomainError("Give the model to place: ?model=<exo model id>.",
                              code="model_required")
        names = _live_names()
        with ExoClient() as client:
            model_id = exo_model_id(client, name)
            previews = client.previews(model_id)
        rows = [{
            "sharding": p.get("sharding"),
            "instance_meta": p.get("instance_meta"),
            "nodes": [names.get(n, n) for n in (p.get("memory_delta_by_node") or {})],
            "memory_by_node": {names.get(n, n): b
                               for n, b in (p.get("memory_delta_by_node") or {}).items()},
            "error": p.get("error"),
        } for p in previews]
        return Response({"model_id": model_id, "previews": rows})


class ExoModelsApi(ApiView):
    @answers(502, 503)
    @extend_schema(responses=list[dict[str, Any]])
    def get(self, request: Request) -> Response:
        with ExoClient() as client:
            return Response(client.models())
