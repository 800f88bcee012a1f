"""Print what MLX sees on this machine as one JSON object.

Run as its own process (`python -m cluster_app.health.mlx_facts`) by the node probe, so Metal is
initialised outside the worker and a crash or a hang there cannot take the worker down.
Imports nothing of the panel.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib.metadata import version
from typing import Any

import mlx.core as mx


def facts() -> dict[str, Any]:
    metal = bool(mx.metal.is_available())
    # Newer MLX has mx.device_info() and deprecates mx.metal.device_info().
    device_info = getattr(mx, "device_info", None) or mx.metal.device_info
    return {
        "mlx_version": version("mlx"),
        "metal_available": metal,
        "default_device": str(mx.default_device()),
        "device_info": {key: value if isinstance(value, (int, float, str, bool)) else str(value)
                        for key, value in device_info().items()},
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
    }


if __name__ == "__main__":
    print(json.dumps(facts()))
