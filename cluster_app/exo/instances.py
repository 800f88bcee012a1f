"""Loading and unloading models on the cluster, as jobs that follow exo until it is done."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from rest_framework import serializers

from arthur_panel.celery import Lane
from cluster_app.exo.client import ExoClient
from cluster_app.exo.ids import InstanceIdField, ModelIdField
from cluster_app.exo.names import exo_model_id
from cluster_app.exo.state import InstanceView, normalise, untag
from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter
from cluster_app.models import Job

FOLLOW_INTERVAL = 0.5


class LoadParams(serializers.Serializer):
    model_id = ModelIdField()
    sharding = serializers.ChoiceField(["Pipeline", "Tensor"], default="Pipeline")
    instance_meta = serializers.ChoiceField(["MlxRing", "MlxJaccl"], default="MlxRing")
    min_nodes = serializers.IntegerField(min_value=1, max_value=64, default=1)

    class Meta:
        ref_name = "InstanceLoadParams"


class UnloadParams(serializers.Serializer):
    instance_id = InstanceIdField()

    class Meta:
        ref_name = "InstanceUnloadParams"


def find_instance(client: ExoClient, instance_id: str) -> InstanceView | None:
    view = normalise(client.state())
    return next((i for i in view.instances if i.instance_id == instance_id), None)


def run_load(job: Job, reporter: JobReporter) -> dict[str, Any]:
    params = job.params
    with ExoClient() as client:
        instance_id = (job.result or {}).get("instance_id")
        if not instance_id:  # a retried job follows the instance it already placed
            # Started through the jobs API, the name may be any the catalogue knows.
            model_id = exo_model_id(client, params["model_id"])
            tagged = client.placement(model_id=model_id, sharding=params["sharding"],
                                      instance_meta=params["instance_meta"],
                                      min_nodes=params["min_nodes"])
            instance_id = untag(tagged)[1]["instanceId"]
            client.create_instance(tagged)
            job.result = {"instance_id": instance_id}
            Job.objects.filter(pk=job.pk).update(result=job.result)
            reporter.log(f"placed {model_id} as {untag(tagged)[0]} {instance_id}")
        try:
            return _follow_until_ready(client, instance_id, reporter)
        except BaseException:
            # Cancelled or failed: do not leave a half-loaded model holding memory.
            if find_instance(client, instance_id) is not None:
                client.delete_instance(instance_id)
            raise


def _follow_until_ready(client: ExoClient, instance_id: str,
                        reporter: JobReporter) -> dict[str, Any]:
    deadline = time.monotonic() + settings.INSTANCE_LOAD_TIMEOUT
    seen = False
    while time.monotonic() < deadline:
        instance = find_instance(client, instance_id)
        if instance is not None:
            seen = True
            if instance.status == "failed":
                raise RuntimeError(f"exo could not load the model: {instance.error}")
            reporter.progress(instance.layers_loaded, instance.layers_total or None, unit="layers",
                              message=_describe(instance))
            if instance.status == "ready":
                return {"instance_id": instance_id, "model_id": instance.model_id,
                        "backend": instance.backend, "sharding": instance.sharding,
                        "nodes": instance.node_ids}
        elif seen:
            raise RuntimeError("the instance disappeared from exo's state while loading "
                               "(a node dropped out, or it was unloaded)")
        reporter.check()
        time.sleep(FOLLOW_INTERVAL)
    raise TimeoutError(f"not ready after {settings.INSTANCE_LOAD_TIMEOUT} s")


def _describe(instance: InstanceView) -> str:
    states = ", ".join(sorted({runner.state for runner in instance.runners})) or "placing"
    return f"{states}: {instance.layers_loaded}/{instance.layers_total} layers"


def run_unload(job: Job, reporter: JobReporter) -> dict[str, Any]:
    instance_id = job.params["instance_id"]
    with ExoClient() as client:
        client.delete_instance(instance_id)
        reporter.progress(0, 1, unit="steps", message="Unloading")
        deadline = time.monotonic() + 120
        while find_instance(client, instance_id) is not None:
            if time.monotonic() > deadline:
                raise TimeoutError("exo still lists the instance two minutes after the unload")
            reporter.check()
            time.sleep(FOLLOW_INTERVAL)
    reporter.progress(1, 1, message="Unloaded")
    return {"instance_id": instance_id}


LOAD = JobKind(name="instance.load", label="Load model", run=run_load, needs_node=False,
               params=LoadParams, lane=Lane.CONTROL)
UNLOAD = JobKind(name="instance.unload", label="Unload model", run=run_unload, needs_node=False,
                 params=UnloadParams, lane=Lane.CONTROL)
