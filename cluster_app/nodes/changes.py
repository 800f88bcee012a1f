"""What the cluster poll must write of a node: its live fields when one of them changed, its links
when they did (told by a digest kept in the row next to them). Pure: no I/O."""

from __future__ import annotations

import hashlib
from operator import attrgetter
from typing import Any

import orjson

# The node's live fields but its links, which go by their digest.
LIVE_FIELDS = ("status", "status_reason", "exo_node_id", "last_seen_at", "ram_total", "ram_used",
               "swap_used", "disk_total", "disk_free", "gpu_usage", "temperature", "power",
               "rdma_enabled")

_live_values = attrgetter(*LIVE_FIELDS)


def live_values(node: object) -> tuple[Any, ...]:
    """The node's LIVE_FIELDS values, to compare with what they were before the poll."""
    values: tuple[Any, ...] = _live_values(node)
    return values


def links_digest(links: list[dict[str, Any]]) -> str:
    """A digest of a node's links, the same for the same links in any process (32 characters)."""
    return hashlib.blake2b(orjson.dumps(links), digest_size=16).hexdigest()
