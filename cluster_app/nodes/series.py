"""Pure rules for a node's performance history: the series a reading becomes (each time bucket
keeps its peak, as the memory history does: perf_history.py). No I/O."""

from __future__ import annotations

from cluster_app.nodes.netrates import Rates

GPU_USAGE = "gpu_usage"  # 0 to 1
TEMPERATURE = "temperature"  # GPU, degrees C
POWER = "power"  # W
SWAP_USED = "swap_used"  # bytes
NET_PREFIX = "net."
RECEIVED, SENT = "rx", "tx"


def net_series(interface: str, direction: str) -> str:
    """`net.bridge0.rx`: bytes per second in (rx) or out (tx) of one interface."""
    return f"{NET_PREFIX}{interface}.{direction}"


def live_series(*, gpu_usage: float | None, temperature: float | None, power: float | None,
                swap_used: int | None) -> dict[str, float]:
    """A node's live figures as series values, leaving out what its source did not report."""
    figures = {GPU_USAGE: gpu_usage, TEMPERATURE: temperature, POWER: power,
               SWAP_USED: swap_used}
    return {name: float(value) for name, value in figures.items() if value is not None}


def network_series(rates: Rates) -> dict[str, float]:
    values: dict[str, float] = {}
    for interface, (received, sent) in rates.interfaces.items():
        values[net_series(interface, RECEIVED)] = received
        values[net_series(interface, SENT)] = sent
    return values

