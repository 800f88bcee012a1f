"""The inventory's nodes with their live fields, as the API and the cluster snapshot give them."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from cluster_app.models import Node


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


class NodeSerializer(serializers.ModelSerializer):
    queue = serializers.CharField(read_only=True)
    control_queue = serializers.CharField(read_only=True)
    exo_process = ExoProcessSerializer(source="*", read_only=True)

    class Meta:
        model = Node
        fields = ["name", "display_name", "hostname", "role", "hardware", "ram_bytes",
                  "in_exo_cluster", "expects_rdma", "models_dir", "purpose", "queue",
                  "control_queue", "status", "status_reason",
                  "exo_node_id", "last_seen_at", "ram_total", "ram_used", "swap_used",
                  "disk_total", "disk_free", "gpu_usage", "temperature", "power", "rdma_enabled",
                  "links", "exo_process"]
        ref_name = "Node"
