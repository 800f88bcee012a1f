"""Display helpers. Sizes are shown the cluster guide's way: binary GB (GiB) written "GB"."""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from cluster_app.models import Node
from cluster_app.units import GIB, format_gib

register = template.Library()

SAFE_ZONE = 0.70  # the guide's "Safe Operation Zone: <70% utilization"


@register.filter
def gib(value: int | None) -> str:
    return format_gib(value)


@register.filter
def cluster_ram(nodes: Iterable[Node]) -> int:
    return sum(node.ram_bytes for node in nodes if node.in_exo_cluster)


@register.filter
def exo_breakdown(nodes: Iterable[Node]) -> str:
    """`ALPHA 512 GB + BETA 256 GB`: the exo nodes' memory."""
    return " + ".join(f"{node.display_name} {format_gib(node.ram_bytes)}"
                      for node in nodes if node.in_exo_cluster)


@register.filter
def exo_count(nodes: Iterable[Node]) -> int:
    return sum(1 for node in nodes if node.in_exo_cluster)


@register.filter
def safe_zone(total: int) -> int:
    """70% of `total`, down to a whole GB as the guide counts it (768 GB -> 537 GB)."""
    return int(total * SAFE_ZONE) // GIB * GIB
