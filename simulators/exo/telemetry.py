"""Plausible M3 Ultra readings that drift over time and climb while the node generates."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cluster.py reads IDLE from here, so only type checkers import it back
    from .cluster import Node

IDLE = {"gpuUsage": 0.03, "temp": 41.0, "sysPower": 14.0, "pcpuUsage": 0.06, "ecpuUsage": 0.12}
BUSY = {"gpuUsage": 0.92, "temp": 68.0, "sysPower": 185.0, "pcpuUsage": 0.22, "ecpuUsage": 0.18}
NOISE = {"gpuUsage": 0.03, "temp": 0.8, "sysPower": 6.0, "pcpuUsage": 0.03, "ecpuUsage": 0.03}
# A Mac never reads below these (an idle M3 Ultra still draws about 10 W and sits near room
# temperature); noise must not carry a reading under them.
FLOOR = {"temp": 25.0, "sysPower": 8.0}
SMOOTHING = 0.35  # how far a reading moves toward its target per sample


def sample(node: Node, busy: bool) -> None:
    """Move each reading part way toward the idle or busy level, with some noise."""
    targets = BUSY if busy else IDLE
    for key, target in targets.items():
        current = node.system.get(key, IDLE[key])
        value = current + (target - current) * SMOOTHING + node.rng.gauss(0, NOISE[key])
        if key in ("gpuUsage", "pcpuUsage", "ecpuUsage"):
            value = min(1.0, max(0.0, value))
        node.system[key] = round(max(FLOOR.get(key, 0.0), value), 3)
