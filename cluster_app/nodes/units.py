"""Byte sizes as the cluster guide writes them: its "GB" are binary (GiB)."""

from __future__ import annotations

GIB = 1024**3


def format_gib(value: int | None) -> str:
    """`405874409472` -> `"378 GB"`; one decimal below 10 GB, none from 100 GB."""
    if value is None:
        return "—"
    gib = value / GIB
    if gib >= 100:
        return f"{gib:.0f} GB"
    if gib >= 10:
        return f"{gib:.1f}".rstrip("0").rstrip(".") + " GB"
    return f"{gib:.2f}".rstrip("0").rstrip(".") + " GB"
