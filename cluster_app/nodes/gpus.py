"""Pure rules for a node whose worker reads its GPUs through NVML (GAMMA): the probe's reading
turned into the node's live figures and status, and the status of a node whose worker has gone
quiet. No I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cluster_app.nodes.live import LIMIT_FRACTION, NodeStatus

GPU, HOST = "gpu", "host"


@dataclass(frozen=True)
class GpuFigures:
    """What the node card shows. Memory is the GPUs' own, or, where NVML reports none (a
    GPU that shares the host's memory, as a DGX GB10's does), the host's; None if neither."""

    available: bool
    reason: str
    ram_total: int | None
    ram_used: int | None
    memory_source: str  # GPU, HOST, or "" when there is no memory figure
    gpu_usage: float | None  # the GPUs' mean utilisation, 0 to 1
    temperature: float | None  # the hottest GPU, degrees C
    power: float | None  # the GPUs' draw together, W
    power_limit: float | None  # their limits together, W


def _numbers(cards: list[Mapping[str, Any]], key: str) -> list[float]:
    return [float(card[key]) for card in cards if isinstance(card.get(key), (int, float))]


def gpu_figures(reading: Mapping[str, Any]) -> GpuFigures:
    """The node's figures from one reading of `python -m cluster_app.nodes.nvml --json`."""
    if not reading.get("available"):
        return GpuFigures(False, str(reading.get("reason") or "no reading"), None, None, "",
                          None, None, None, None)
    cards = [card for card in reading.get("gpus") or [] if isinstance(card, Mapping)]
    totals, used = _numbers(cards, "memory_total"), _numbers(cards, "memory_used")
    host = reading.get("host_memory")
    if cards and len(totals) == len(used) == len(cards):
        ram_total, ram_used, source = int(sum(totals)), int(sum(used)), GPU
    elif isinstance(host, Mapping) and {"total", "available"} <= set(host):
        ram_total, source = int(host["total"]), HOST
        ram_used = ram_total - int(host["available"])
    else:
        ram_total, ram_used, source = None, None, ""
    busy = _numbers(cards, "utilization")
    temperatures = _numbers(cards, "temperature")
    draws, limits = _numbers(cards, "power_draw"), _numbers(cards, "power_limit")
    return GpuFigures(
        available=True, reason="", ram_total=ram_total, ram_used=ram_used, memory_source=source,
        gpu_usage=sum(busy) / len(busy) / 100 if busy else None,
        temperature=max(temperatures) if temperatures else None,
        power=sum(draws) if draws else None, power_limit=sum(limits) if limits else None)


def gpu_status(figures: GpuFigures) -> NodeStatus:
    """Online while NVML reads; degraded without a GPU reading, or past the guide's 92% memory
    limit (the 70% safe zone colours the bar, as on the Macs)."""
    if not figures.available:
        return NodeStatus("degraded", f"GPU not available: {figures.reason}")
    if figures.ram_total and figures.ram_used is not None:
        fraction = figures.ram_used / figures.ram_total
        if fraction >= LIMIT_FRACTION:
            what = "GPU memory" if figures.memory_source == GPU else "memory"
            return NodeStatus("degraded", f"{what} at {fraction:.0%}, over the 92% limit")
    return NodeStatus("online", "")


def silent_status(*, last_seen: datetime | None, now: datetime, offline_after: timedelta,
                  queue: str) -> NodeStatus | None:
    """Offline when the node's worker has sent no reading for `offline_after`; None while its
    readings keep coming."""
    if last_seen is None:
        return NodeStatus("offline", f"no GPU reading yet from its worker on {queue}")
    if now - last_seen >= offline_after:
        seconds = int((now - last_seen).total_seconds())
        return NodeStatus("offline", f"no GPU reading from its worker on {queue} for {seconds} s")
    return None
