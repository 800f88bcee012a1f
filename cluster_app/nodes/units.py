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


def format_size(value: int) -> str:
    """Under a GB in B, KB or MB (`314572800` -> `"300 MB"`), from a GB up as format_gib: a
    message about a nearly full disk must not say "0 GB". `Live.bytes` (static/js/live.js)
    writes sizes the same way."""
    if abs(value) >= GIB:
        return format_gib(value)
    size, unit = float(value), 0
    while abs(size) >= 1024:
        size, unit = size / 1024, unit + 1
    return f"{size:.{0 if size >= 100 or unit == 0 else 1}f} {('B', 'KB', 'MB')[unit]}"
