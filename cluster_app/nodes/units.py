"""Byte sizes as the cluster guide writes them: its "GB" are binary (GiB)."""

from __future__ import annotations

GIB = 1024**3


def format_gib(value: int | None) -> str:
    """`405874409472` -> `"378 GB"`: whole from 100 GB, one decimal from 10 GB, two below,
    trailing zeros dropped. `Live.gb` (static/js/live.js) writes the same, to the digit."""
    if value is None:
        return "—"
    gib = value / GIB
    if gib >= 100:
        return f"{gib:.0f} GB"
    if gib >= 10:
        return f"{gib:.1f}".rstrip("0").rstrip(".") + " GB"
    return f"{gib:.2f}".rstrip("0").rstrip(".") + " GB"
