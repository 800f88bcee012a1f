"""A stand-in for the pynvml functions the GPU probe calls, answering with what NVML told
nvidia-smi on a real H200 server (tests/fixtures/nvidia/, read from its own CSV files).

`python -m tests.nvml_fake` is the probe (cluster_app/nodes/nvml.py) run against it: the GPU
node the browser tests show is that H200.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

from cluster_app.nodes import nvml

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nvidia"
MIB = 1024**2


@dataclass
class RecordedGpu:
    name: str
    uuid: str
    driver_version: str
    memory_total: int
    memory_used: int
    memory_free: int
    utilization: int
    memory_utilization: int
    temperature: int
    power_draw_mw: int
    power_limit_mw: int


@dataclass
class RecordedProcess:
    pid: int
    name: str
    memory_used: int


def _number(text: str) -> float:
    """`143771 MiB`, `0 %`, `95.93 W`, `35` -> the number."""
    return float(text.split()[0])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        rows = list(csv.reader(handle, skipinitialspace=True))
    header = [name.split(" [")[0] for name in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:] if row]


def recorded_gpus(path: Path = FIXTURES / "query.csv") -> list[RecordedGpu]:
    return [RecordedGpu(
        name=row["name"], uuid=row["uuid"], driver_version=row["driver_version"],
        memory_total=int(_number(row["memory.total"])) * MIB,
        memory_used=int(_number(row["memory.used"])) * MIB,
        memory_free=int(_number(row["memory.free"])) * MIB,
        utilization=int(_number(row["utilization.gpu"])),
        memory_utilization=int(_number(row["utilization.memory"])),
        temperature=int(_number(row["temperature.gpu"])),
        power_draw_mw=round(_number(row["power.draw"]) * 1000),
        power_limit_mw=round(_number(row["power.limit"]) * 1000),
    ) for row in _rows(path)]


def recorded_processes(path: Path = FIXTURES / "apps.csv") -> list[RecordedProcess]:
    return [RecordedProcess(int(row["pid"]), row["process_name"],
                            int(_number(row["used_gpu_memory"])) * MIB) for row in _rows(path)]


@dataclass
class FakeNvml:
    """pynvml's functions the probe calls, over recorded GPUs. `unsupported` names functions
    that answer NVML's "not supported"; `init_error` is what nvmlInit raises."""

    gpus: list[RecordedGpu]
    processes: list[RecordedProcess] = field(default_factory=list)
    unsupported: Iterable[str] = ()
    init_error: pynvml.NVMLError | None = None
    # A driver older than NVML's memory version 2 (which leaves its reserve out of `used`).
    memory_v1_only: bool = False
    calls: list[str] = field(default_factory=list)

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    nvmlMemory_v2 = pynvml.nvmlMemory_v2

    @classmethod
    def recorded(cls, **options: Any) -> FakeNvml:
        """The H200 as recorded."""
        return cls(recorded_gpus(), **{"processes": recorded_processes(), **options})

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.unsupported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlInit(self) -> None:
        self._call("nvmlInit")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self._call("nvmlShutdown")

    def nvmlSystemGetDriverVersion(self) -> str:
        self._call("nvmlSystemGetDriverVersion")
        return self.gpus[0].driver_version

    def nvmlDeviceGetCount(self) -> int:
        self._call("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> RecordedGpu:
        self._call("nvmlDeviceGetHandleByIndex")
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: RecordedGpu) -> str:
        self._call("nvmlDeviceGetName")
        return handle.name

    def nvmlDeviceGetUUID(self, handle: RecordedGpu) -> str:
        self._call("nvmlDeviceGetUUID")
        return handle.uuid

    def nvmlDeviceGetMemoryInfo(self, handle: RecordedGpu, version: int | None = None
                                ) -> SimpleNamespace:
        self._call("nvmlDeviceGetMemoryInfo")
        total, used, free = handle.memory_total, handle.memory_used, handle.memory_free
        if version is not None and self.memory_v1_only:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        if version is None:  # version 1 counts the driver's reserve as used
            return SimpleNamespace(total=total, free=free, used=total - free)
        return SimpleNamespace(total=total, free=free, used=used, reserved=total - used - free)

    def nvmlDeviceGetUtilizationRates(self, handle: RecordedGpu) -> SimpleNamespace:
        self._call("nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=handle.utilization, memory=handle.memory_utilization)

    def nvmlDeviceGetTemperature(self, handle: RecordedGpu, sensor: int) -> int:
        self._call("nvmlDeviceGetTemperature")
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return handle.temperature

    def nvmlDeviceGetPowerUsage(self, handle: RecordedGpu) -> int:
        self._call("nvmlDeviceGetPowerUsage")
        return handle.power_draw_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: RecordedGpu) -> int:
        self._call("nvmlDeviceGetEnforcedPowerLimit")
        return handle.power_limit_mw

    def nvmlDeviceGetComputeRunningProcesses(self, handle: RecordedGpu) -> list[SimpleNamespace]:
        self._call("nvmlDeviceGetComputeRunningProcesses")
        return [SimpleNamespace(pid=p.pid, usedGpuMemory=p.memory_used) for p in self.processes]

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        self._call("nvmlSystemGetProcessName")
        return next(p.name for p in self.processes if p.pid == pid)


if __name__ == "__main__":
    print(json.dumps(nvml.read(FakeNvml.recorded())))
