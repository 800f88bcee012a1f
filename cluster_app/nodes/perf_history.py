"""Each node's performance history (GPU use, temperature, power, swap, network bytes/s), kept
like its memory history: the peak of every 10 s bucket for an hour and of every 5 min bucket for
a day (cluster_app.nodes.live.HISTORY_TIERS)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from cluster_app.models import Node, NodeMemorySample, NodeMetricSample
from cluster_app.nodes.live import HISTORY_TIERS, bucket_start
from cluster_app.nodes.rows import keep_peaks, model_fields


def record_series(readings: list[tuple[Node, dict[str, float]]], now: datetime) -> None:
    """Fold each node's reading, (node, {series: value}), into its bucket of every tier, and
    drop the buckets that have left each tier's window."""
    # One statement run for every row, no read first: the poll runs this every poll for every
    # node and series (32 Macs: 128 rows a tier).
    keep_peaks(NodeMetricSample, ["node", "tier", "series", "bucket"], "value", [],
               [(node.pk, tier, series, bucket, value) for tier, bucket in tier_buckets(now)
                for node, values in readings for series, value in values.items()])
    drop_old_buckets(NodeMetricSample, now)


def tier_buckets(now: datetime) -> list[tuple[str, datetime]]:
    """Each tier with its bucket holding `now`."""
    return [(tier, bucket_start(now, width)) for tier, (width, _) in HISTORY_TIERS.items()]


def drop_old_buckets(model: type[NodeMemorySample | NodeMetricSample], now: datetime) -> None:
    """Drop the samples that have left their tier's window (found by the index on tier and
    bucket). One plain statement: the ORM's delete took ten times as long, every poll."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    tier, bucket = model_fields(model, ["tier", "bucket"])
    condition = f"({quote(tier.column)} = %s AND {quote(bucket.column)} < %s)"
    params = [value for name, (_, window) in HISTORY_TIERS.items() for value in (
        name, bucket.get_db_prep_value(now - timedelta(seconds=window), connection))]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(model._meta.db_table)} WHERE "
                       f"{' OR '.join([condition] * len(HISTORY_TIERS))}", params)


def series_history(node: Node, tier: str) -> dict[str, list[dict[str, Any]]]:
    """Series name -> its buckets in time order, `{"at", "value"}` each."""
    history: dict[str, list[dict[str, Any]]] = {}
    for series, bucket, value in node.metric_samples.filter(tier=tier).order_by(
            "bucket").values_list("series", "bucket", "value"):
        history.setdefault(series, []).append({"at": bucket.isoformat(), "value": value})
    return history
