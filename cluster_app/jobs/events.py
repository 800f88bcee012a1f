"""The one publisher of live events to browsers: JSON-only dicts with a `type`."""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

JOBS_GROUP = "jobs"
CLUSTER_GROUP = "cluster"
LOGS_GROUP = "logs"


def job_group(job_id: int) -> str:
    return f"job.{job_id}"


def publish(groups: list[str], event: dict[str, Any], *, already_json: bool = False) -> None:
    """Send `event` to each group now. A broken layer is logged, never raised: the row is
    the truth, and browsers reading it on reconnect lose nothing.

    Events go through a JSON round-trip, which keeps anything a browser could not receive out
    of them; `already_json` skips it for large events built from JSON values only."""
    payload = event if already_json else json.loads(json.dumps(event))
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for group in groups:
            async_to_sync(layer.group_send)(group, payload)
    except Exception:
        logger.warning("could not publish %s", event.get("type"), exc_info=True)


def publish_on_commit(groups: list[str], event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(groups, event))
