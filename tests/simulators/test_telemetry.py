"""The simulated readings stay where a real Mac's can be, however the noise falls."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any, cast

from simulators.exo import telemetry


class FallingNoise(random.Random):
    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        return mu - 100 * sigma  # far below anything a real reading does


def test_noise_never_carries_power_or_temperature_below_their_floor() -> None:
    node = SimpleNamespace(system=dict(telemetry.IDLE), rng=FallingNoise())
    for _ in range(20):
        telemetry.sample(cast(Any, node), busy=False)
    assert node.system["sysPower"] == telemetry.FLOOR["sysPower"] > 0
    assert node.system["temp"] == telemetry.FLOOR["temp"]
    assert node.system["gpuUsage"] == 0.0


def test_busy_readings_climb_toward_the_busy_level() -> None:
    node = SimpleNamespace(system=dict(telemetry.IDLE), rng=random.Random(7))
    for _ in range(30):
        telemetry.sample(cast(Any, node), busy=True)
    assert abs(node.system["sysPower"] - telemetry.BUSY["sysPower"]) < 30
    assert 0.8 < node.system["gpuUsage"] <= 1.0
