"""Loading and unloading models on the cluster, as jobs that follow exo until it is done.

A load adds exo's card for the model if exo has none, places an instance, then follows exo
through its phases: each node downloads its shard (progress in bytes), the runners start,
load their layers and warm up (progress in layers), ready. Cancelled or failed, the instance
is deleted.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from django.conf import settings
from rest_framework import serializers

from arthur_panel.celery import Lane
from cluster_app.exo.cards import card_ensure
from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from cluster_app.exo.ids import InstanceIdField, ModelIdField
from cluster_app.exo.loading import DOWNLOADING, FAILED, READY, load_stage, lost_instance
from cluster_app.exo.names import exo_model_id
from cluster_app.exo.state import ClusterView, InstanceView, normalise, untag
from cluster_app.jobs.failures import WorkFailed
from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter
from cluster_app.jobs.services import job_keep
from cluster_app.models import Job

FOLLOW_INTERVAL = 0.5
# exo's master applies a create at once; this long without the instance, it never will.
CREATE_TIMEOUT = 60.0
AWAIT_SECONDS = 5  # each `/instance/await` wait, so a cancel is seen between them
# A load waits this long for exo to answer again: a restarting exo is back within seconds.
EXO_RETURN_SECONDS = 60.0


class ExoRestarted(WorkFailed):
    """exo restarted under a load and came back without its instance."""

    code = "exo_restarted"


class LoadProgress(Protocol):
    """What following a load reports to: a job's reporter, or a job that loads on its way."""

    def log(self, line: str) -> None: ...

    def tick(self) -> None: ...

    def progress(self, done: int, total: int | None = None, *, message: str | None = None,
                 unit: str | None = None, detail: dict[str, Any] | None = None) -> None: ...


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
        if instance_id:
            reporter.log(f"following instance {instance_id}, placed by this job before its "
                         "worker died")
        else:
            # Started through the jobs API, the name may be any the catalogue knows.
            model_id = exo_model_id(client, params["model_id"])
            # exo places only models it has a card for: the guide's Qwen2.5-Coder, Mistral
            # Large and Mixtral need theirs added first.
            card_ensure(client, model_id, reporter.log)
            tagged = client.placement(model_id=model_id, sharding=params["sharding"],
                                      instance_meta=params["instance_meta"],
                                      min_nodes=params["min_nodes"])
            instance_id = create_placed(client, job, model_id, tagged, reporter)
        try:
            return follow_until_ready(client, instance_id, reporter)
        except BaseException:
            # Cancelled or failed: do not leave a half-loaded model holding memory.
            _delete_if_there(client, instance_id, reporter)
            raise


def _delete_if_there(client: ExoClient, instance_id: str, reporter: LoadProgress) -> None:
    try:
        if find_instance(client, instance_id) is not None:
            client.delete_instance(instance_id)
    except (ExoUnavailable, ExoError) as error:  # the failure being raised says more
        reporter.log(f"could not delete instance {instance_id}: {error.message}")


def create_placed(client: ExoClient, job: Job, model_id: str, tagged: dict[str, Any],
                  reporter: LoadProgress) -> str:
    """Create the instance exo placed, its id kept on the job first (`result.instance_id`:
    a retry after a dead worker finds it), and wait until exo has it; returns its id."""
    instance_id = str(untag(tagged)[1]["instanceId"])
    job_keep(job, instance_id=instance_id)
    client.create_instance(tagged)
    reporter.log(f"placed {model_id} as {untag(tagged)[0]} {instance_id}")
    await_created(client, model_id, instance_id, reporter)
    return instance_id


def await_created(client: ExoClient, model_id: str, instance_id: str,
                  reporter: LoadProgress) -> None:
    """Wait until exo's state has the instance: exo answers the create before its master has
    applied it. `GET /instance/await` (exo main) waits at exo's end; 1.0.71 has no such route,
    and there exo's state is read until the instance shows."""
    deadline = time.monotonic() + CREATE_TIMEOUT
    awaiting = True
    while time.monotonic() < deadline:
        if awaiting:
            message = client.await_instance(model_id, AWAIT_SECONDS)
            if _instance_id_of(message) == instance_id:
                return
            # Await again only while exo has no instance of the model at all: once another
            # one answers, it would answer at once every time.
            awaiting = message is not None and message.get("type") == "timeout"
        if find_instance(client, instance_id) is not None:
            return
        reporter.tick()
        if not awaiting:
            time.sleep(FOLLOW_INTERVAL)
    raise TimeoutError(f"exo accepted instance {instance_id} but did not create it within "
                       f"{CREATE_TIMEOUT:g} s (its log says why)")


def _instance_id_of(message: dict[str, Any] | None) -> str | None:
    """The instance id in an `/instance/await` message (exo dumps it in snake_case)."""
    if not message or message.get("type") != "ready":
        return None
    return untag(message.get("instance"))[1].get("instance_id")


def follow_until_ready(client: ExoClient, instance_id: str,
                       reporter: LoadProgress) -> dict[str, Any]:
    """Report the load's stage until the instance is ready. The timeout counts time without
    progress while the shards download (a 378 GB model takes most of an hour to arrive), and
    all of it after. exo restarting meanwhile is waited out (see `state_through_restart`),
    and a restart that lost the instance named as such."""
    timeout = settings.INSTANCE_LOAD_TIMEOUT
    deadline = time.monotonic() + timeout
    phase, downloaded = "", -1
    placed_on: dict[str, str] = {}  # exo node id -> name, of the nodes it loads on
    while time.monotonic() < deadline:
        view = state_through_restart(client, reporter)
        instance = next((i for i in view.instances if i.instance_id == instance_id), None)
        names = {node.node_id: node.friendly_name for node in view.nodes}
        if instance is None:
            lost = lost_instance(placed_on, names)
            raise ExoRestarted(lost.message) if lost.restarted else RuntimeError(lost.message)
        placed_on = {node_id: names.get(node_id, node_id) for node_id in instance.node_ids}
        stage = load_stage(instance, view.downloads, names)
        if stage.phase == FAILED:
            raise RuntimeError(f"exo could not load the model: {stage.error}")
        if stage.phase != phase:
            phase = stage.phase
            reporter.log(f"{instance.model_id}: {stage.message}")
        if stage.phase == DOWNLOADING and stage.done > downloaded:
            downloaded = stage.done
            deadline = time.monotonic() + timeout
        reporter.progress(stage.done, stage.total or None, unit=stage.unit,
                          message=stage.message)
        if stage.phase == READY:
            return {"instance_id": instance_id, "model_id": instance.model_id,
                    "backend": instance.backend, "sharding": instance.sharding,
                    "nodes": instance.node_ids}
        time.sleep(FOLLOW_INTERVAL)
    raise TimeoutError(f"not ready after {timeout} s" + (
        " without a byte of its shards arriving" if phase == DOWNLOADING else ""))


def state_through_restart(client: ExoClient, reporter: LoadProgress) -> ClusterView:
    """exo's state, asked again while exo does not answer, for up to EXO_RETURN_SECONDS: exo
    restarting is back within seconds. ExoUnavailable if it stays away."""
    deadline = None
    while True:
        try:
            return normalise(client.state())
        except ExoUnavailable as error:
            if deadline is None:
                deadline = time.monotonic() + EXO_RETURN_SECONDS
                reporter.log(f"{error.message} Waiting up to {EXO_RETURN_SECONDS:g} s for it to "
                             "come back (restarting?)")
            elif time.monotonic() >= deadline:
                raise ExoUnavailable(f"exo stopped answering while the model was loading and "
                                     f"was not back within {EXO_RETURN_SECONDS:g} s: "
                                     f"{error.message}") from None
            reporter.tick()
            time.sleep(FOLLOW_INTERVAL)


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
