"""The inventory's nodes with their live fields, as the API and the cluster snapshot give them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.utils import timezone
from django.utils.functional import cached_property
from rest_framework import serializers

from arthur_panel.celery import Lane
from cluster_app.jobs.workers import workers_seen
from cluster_app.models import Node
from cluster_app.nodes.gpus import gpu_figures


class ExoProcessSerializer(serializers.Serializer):
    """The node's exo process as its worker last read it."""

    running = serializers.BooleanField()
    pid = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    uptime_seconds = serializers.IntegerField(allow_null=True)
    version = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "ExoProcess"

    def to_representation(self, node: Node) -> dict[str, Any]:
        running = node.exo_pid is not None
        uptime = None
        if running and node.exo_started_at:
            uptime = max(0, int((timezone.now() - node.exo_started_at).total_seconds()))
        return super().to_representation({
            "running": running, "pid": node.exo_pid,
            "started_at": node.exo_started_at if running else None, "uptime_seconds": uptime,
            "version": node.exo_version, "checked_at": node.exo_checked_at})


class GpuSerializer(serializers.Serializer):
    """The GPUs of a node that reads its own (GAMMA), from its worker's last reading; null for
    a node exo reports."""

    available = serializers.BooleanField()
    reason = serializers.CharField()
    memory_source = serializers.CharField(help_text="gpu, or host when the GPU shares it")
    power_limit = serializers.FloatField(allow_null=True, help_text="W, the GPUs together")
    driver_version = serializers.CharField(allow_null=True)
    gpus = serializers.ListField(child=serializers.DictField(),
                                 help_text="Each GPU as the NVML probe read it")
    read = serializers.BooleanField(help_text="False until the first reading")

    class Meta:
        ref_name = "NodeGpus"

    def to_representation(self, node: Node) -> dict[str, Any] | None:  # type: ignore[override]
        if not node.reads_gpus:
            return None
        reading = node.gpu_reading or {}
        figures = gpu_figures(reading)
        return super().to_representation({
            "available": figures.available, "reason": figures.reason,
            "memory_source": figures.memory_source, "power_limit": figures.power_limit,
            "driver_version": reading.get("driver_version"), "gpus": reading.get("gpus") or [],
            "read": bool(reading)})


class WorkerLaneSerializer(serializers.Serializer):
    online = serializers.BooleanField()
    seen_at = serializers.FloatField(help_text="Unix time of its last heartbeat")
    host = serializers.CharField()
    pid = serializers.IntegerField()

    class Meta:
        ref_name = "WorkerLane"


class NodeWorkerSerializer(serializers.Serializer):
    """The node's workers by their heartbeats: `online` when both lanes' workers beat within
    WORKER_OFFLINE_SECONDS; each lane's last beat (null: none ever seen)."""

    online = serializers.BooleanField()
    bulk = WorkerLaneSerializer(allow_null=True)
    control = WorkerLaneSerializer(allow_null=True)

    class Meta:
        ref_name = "NodeWorker"

    def to_representation(self, node: Node) -> dict[str, Any]:
        # Read once for all the nodes being serialized (the context is the whole list's).
        context = self.context
        if "workers_seen" not in context:
            context["workers_seen"] = workers_seen()
        lanes = context["workers_seen"].get(node.name, {})
        bulk, control = (lanes.get(lane.value) for lane in (Lane.BULK, Lane.CONTROL))
        return {"online": bool(bulk and bulk.online and control and control.online),
                "bulk": bulk.as_dict() if bulk else None,
                "control": control.as_dict() if control else None}


# DRF fields whose representation of a value that is not None is a plain conversion of it
# (their own to_representation, spelled out for the values a model field holds).
_PLAIN_CONVERSIONS: dict[type[serializers.Field], Callable[[Any], Any]] = {
    serializers.CharField: str, serializers.SlugField: str, serializers.ChoiceField: str,
    serializers.IntegerField: int, serializers.FloatField: float, serializers.BooleanField: bool,
}


class NodeSerializer(serializers.ModelSerializer):
    """A node with its live fields. The cluster poll represents every node every poll: each
    field's way to its value is worked out once per serializer (DRF's own loop, through
    get_attribute and to_representation, took most of the time at 32 nodes); the result is
    DRF's (a test compares them)."""

    queue = serializers.CharField(read_only=True)
    control_queue = serializers.CharField(read_only=True)
    exo_process = ExoProcessSerializer(source="*", read_only=True)
    gpu = GpuSerializer(source="*", read_only=True, allow_null=True)
    worker = NodeWorkerSerializer(source="*", read_only=True)

    class Meta:
        model = Node
        fields = ["name", "display_name", "hostname", "role", "hardware", "ram_bytes",
                  "in_exo_cluster", "expects_rdma", "models_dir", "purpose", "queue",
                  "control_queue", "status", "status_reason",
                  "exo_node_id", "last_seen_at", "ram_total", "ram_used", "swap_used",
                  "disk_total", "disk_free", "gpu_usage", "temperature", "power", "rdma_enabled",
                  "links", "exo_process", "monitor_gpus", "gpu", "worker", "network_interfaces",
                  "network"]
        ref_name = "Node"

    def to_representation(self, node: Node) -> dict[str, Any]:
        return {name: convert(node) if attribute is None else None if (
                    value := getattr(node, attribute)) is None else convert(value)
                for name, attribute, convert in self._plan}

    @cached_property
    def _plan(self) -> list[tuple[str, str | None, Callable[[Any], Any]]]:
        """Each field's name, the node's attribute it reads (None: the whole node) and how its
        value is represented."""
        plan: list[tuple[str, str | None, Callable[[Any], Any]]] = []
        for field in self._readable_fields:
            name = str(field.field_name)
            convert = _PLAIN_CONVERSIONS.get(type(field), field.to_representation)
            if isinstance(field, serializers.JSONField) and not field.binary:
                convert = _unchanged
            if field.source == "*":
                plan.append((name, None, field.to_representation))
            else:
                (attribute,) = field.source_attrs
                plan.append((name, attribute, convert))
        return plan


class SnapshotNodeSerializer(NodeSerializer):
    """A node as the cluster snapshot shows it: without its links, as the snapshot lists every
    pair once (per-node copies would grow each frame with the square of the node count)."""

    class Meta(NodeSerializer.Meta):
        fields = [name for name in NodeSerializer.Meta.fields if name != "links"]
        ref_name = "SnapshotNode"


class _SnapshotSerializers(threading.local):
    serializer: SnapshotNodeSerializer | None = None
    context: dict[str, Any]


_snapshot_serializers = _SnapshotSerializers()


def snapshot_node_payloads(nodes: Iterable[Node]) -> list[dict[str, Any]]:
    """The nodes as the cluster snapshot shows them, by a serializer each thread keeps (its
    fields are built once; the context, the workers' heartbeats, is read anew each call)."""
    kept = _snapshot_serializers
    if kept.serializer is None:
        kept.context = {}
        kept.serializer = SnapshotNodeSerializer(context=kept.context)
    kept.context.clear()
    return [kept.serializer.to_representation(node) for node in nodes]


def _unchanged(value: Any) -> Any:
    return value
