"""Each node's performance history (GPU use, temperature, power, swap, network bytes/s), kept
like its memory history: the peak of every 10 s bucket for an hour and of every 5 min bucket for
a day (cluster_app.nodes.live.HISTORY_TIERS)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cluster_app.models import Node, NodeMetricSample
from cluster_app.nodes.live import HISTORY_TIERS, bucket_start
from cluster_app.nodes.series import peak_changes


def record_series(readings: list[tuple[Node, dict[str, float]]], now: datetime) -> None:
    """Fold each node's reading, (node, {series: value}), into its bucket of every tier, and
    drop the buckets that have left each tier's window."""
    readings = [(node, values) for node, values in readings if values]
    if not readings:
        return
    nodes = {node.pk: node for node, _ in readings}
    incoming = {(node.pk, series): value for node, values in readings
                for series, value in values.items()}
    for tier, (width, window) in HISTORY_TIERS.items():
        bucket = bucket_start(now, width)
        # Plain rows and one UPDATE for every raised peak: the poll runs this every 2 s for
        # every node and series (32 Macs: 160 rows a tier).
        rows = {(node_id, series): (pk, value) for pk, node_id, series, value in
                NodeMetricSample.objects.filter(tier=tier, bucket=bucket, node__in=list(nodes))
                .values_list("pk", "node_id", "series", "value")}
        new, raised = peak_changes({key: value for key, (_, value) in rows.items()}, incoming)
        if raised:
            NodeMetricSample.objects.bulk_update(
                [NodeMetricSample(pk=rows[key][0], value=value) for key, value in raised.items()],
                ["value"])
        if new:  # a new bucket began: the oldest one may have left the window
            NodeMetricSample.objects.bulk_create(
                [NodeMetricSample(node=nodes[pk], tier=tier, series=series, bucket=bucket,
                                  value=value) for (pk, series), value in new.items()],
                ignore_conflicts=True)
            NodeMetricSample.objects.filter(
                tier=tier, bucket__lt=now - timedelta(seconds=window)).delete()


def series_history(node: Node, tier: str) -> dict[str, list[dict[str, Any]]]:
    """Series name -> its buckets in time order, `{"at", "value"}` each."""
    history: dict[str, list[dict[str, Any]]] = {}
    for series, bucket, value in node.metric_samples.filter(tier=tier).order_by(
            "bucket").values_list("series", "bucket", "value"):
        history.setdefault(series, []).append({"at": bucket.isoformat(), "value": value})
    return history
