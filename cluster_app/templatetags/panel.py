"""Display helpers. Sizes are shown the cluster guide's way: binary GB (GiB) written "GB"."""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from cluster_app.models import Node
from cluster_app.units import format_gib

register = template.Library()

SAFE_ZONE = 0.70  # the guide's "Safe Operation Zone: <70% utilization"


@register.filter
def gib(value: int | None) -> str:
    return format_gib(value)


@register.filter
def cluster_ram(nodes: Iterable[Node]) -> int:
    return sum(node.ram_bytes for node in nodes if node.in_exo_cluster)


@register.filter
def exo_count(nodes: Iterable[Node]) -> int:
    return sum(1 for node in nodes if node.in_exo_cluster)


@register.filter
def safe_zone(total: int) -> int:
    return int(total * SAFE_ZONE)
