from __future__ import annotations

from django import template

from cluster_app.nodes.units import format_gib

register = template.Library()


@register.filter
def gb(value: int | None) -> str:
    """Bytes the guide's way: binary GB."""
    return format_gib(value)


@register.filter
def params(value: int) -> str:
    """`671000000000` -> `671B`, `1240000000` -> `1.24B`."""
    if value >= 10**9:
        return f"{value / 10**9:.3g}B"
    return f"{value / 10**6:.3g}M"
