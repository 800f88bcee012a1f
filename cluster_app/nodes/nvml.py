"""Read this machine's NVIDIA GPUs through NVML: `python -m cluster_app.nodes.nvml --json`.

A GPU node's worker (GAMMA's) runs it every poll as a process of its own, so a driver that hangs
cannot take the worker with it. It needs nothing but nvidia-ml-py (`pynvml`) and imports nothing
of the panel. Every figure is optional: NVML answers "not supported" for what a GPU lacks (a
DGX GB10's memory, which it shares with the host), and the reading then holds null. Without a
driver or a GPU it prints `{"available": false, "reason": ...}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pynvml

MEMINFO = Path("/proc/meminfo")
MIB = 1024**2


def unavailable(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason}


def optional(nvml: Any, call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)`, or None when NVML cannot give that figure on this GPU."""
    try:
        return call(*args)
    except nvml.NVMLError:
        return None


def read(nvml: Any = pynvml) -> dict[str, Any]:
    """Every GPU NVML sees, with its figures; `nvml` is pynvml or a stand-in with its functions."""
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return unavailable(f"NVML did not start: {exc}")
    try:
        count = nvml.nvmlDeviceGetCount()
        if not count:
            return unavailable("NVML found no GPU")
        return {"available": True,
                "driver_version": optional(nvml, nvml.nvmlSystemGetDriverVersion),
                "gpus": [gpu(nvml, index) for index in range(count)],
                "host_memory": host_memory()}
    except nvml.NVMLError as exc:
        return unavailable(f"NVML failed: {exc}")
    finally:
        with suppress(nvml.NVMLError):
            nvml.nvmlShutdown()


def gpu(nvml: Any, index: int) -> dict[str, Any]:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = memory_info(nvml, handle)
    rates = optional(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
    draw = optional(nvml, nvml.nvmlDeviceGetPowerUsage, handle)
    limit = optional(nvml, nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    return {
        "index": index,
        "name": optional(nvml, nvml.nvmlDeviceGetName, handle),
        "uuid": optional(nvml, nvml.nvmlDeviceGetUUID, handle),
        "memory_total": memory.total if memory else None,
        "memory_used": memory.used if memory else None,
        "utilization": rates.gpu if rates else None,
        "memory_utilization": rates.memory if rates else None,
        "temperature": optional(nvml, nvml.nvmlDeviceGetTemperature, handle,
                                nvml.NVML_TEMPERATURE_GPU),
        # NVML gives milliwatts.
        "power_draw": draw / 1000 if draw is not None else None,
        "power_limit": limit / 1000 if limit is not None else None,
        "processes": processes(nvml, handle),
    }


def memory_info(nvml: Any, handle: Any) -> Any:
    """The memory as nvidia-smi shows it: version 2 leaves the driver's reserve out of `used`;
    drivers without it answer version 1."""
    try:
        return nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
    except nvml.NVMLError:
        return optional(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)


def processes(nvml: Any, handle: Any) -> list[dict[str, Any]]:
    running = optional(nvml, nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
    return [{"pid": process.pid,
             "name": optional(nvml, nvml.nvmlSystemGetProcessName, process.pid),
             "memory_used": process.usedGpuMemory} for process in running]


def host_memory(path: Path = MEMINFO) -> dict[str, int] | None:
    """The host's memory from /proc/meminfo (Linux): on a GPU that shares it, the memory."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        if value.strip().endswith(" kB"):
            fields[key] = int(value.split()[0]) * 1024
    if "MemTotal" not in fields or "MemAvailable" not in fields:
        return None
    return {"total": fields["MemTotal"], "available": fields["MemAvailable"]}


def lines(reading: dict[str, Any]) -> list[str]:
    """The reading for a person at a terminal, one line per GPU."""
    if not reading["available"]:
        return [f"No GPU: {reading['reason']}"]
    shown = [f"NVIDIA driver {reading['driver_version'] or '?'}"]
    for card in reading["gpus"]:
        memory = (f"{card['memory_used'] // MIB} MiB / {card['memory_total'] // MIB} MiB"
                  if card["memory_total"] is not None else "memory not reported")
        facts = [memory, _unit(card["utilization"], "%"), _unit(card["temperature"], " °C"),
                 f"{_unit(card['power_draw'], ' W')} / {_unit(card['power_limit'], ' W')}",
                 f"{len(card['processes'])} process(es)"]
        shown.append(f"GPU {card['index']}: {card['name']} · " + " · ".join(facts))
    return shown


def _unit(value: float | None, unit: str) -> str:
    return "?" if value is None else f"{value:g}{unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster_app.nodes.nvml",
                                     description="This machine's NVIDIA GPUs, through NVML.")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (what the node's worker reads)")
    args = parser.parse_args(argv)
    reading = read()
    print(json.dumps(reading) if args.json else "\n".join(lines(reading)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
