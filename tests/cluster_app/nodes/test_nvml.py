"""The GPU probe: the recorded H200 read through a stand-in for NVML's functions, figures NVML
does not support, no driver, no GPU; and the probe as its own process, needing nothing but
nvidia-ml-py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pynvml

from cluster_app.nodes import nvml
from tests.nvml_fake import FakeNvml, RecordedProcess

ROOT = Path(__file__).resolve().parents[3]
MIB = 1024**2
# nvidia-smi's figures for the recorded H200 (tests/fixtures/nvidia/query.csv).
H200 = {
    "index": 0, "name": "NVIDIA H200", "uuid": "GPU-2af2be95-0a80-cd27-c657-145a517faf58",
    "memory_total": 143771 * MIB, "memory_used": 0, "utilization": 0, "memory_utilization": 0,
    "temperature": 35, "power_draw": 95.93, "power_limit": 700.0, "processes": [],
}


def test_the_recorded_h200_reads_as_nvidia_smi_showed_it():
    fake = FakeNvml.recorded()
    reading = nvml.read(fake)
    assert reading["available"] is True
    assert reading["driver_version"] == "580.159.04"
    assert reading["gpus"] == [H200]
    assert reading["host_memory"]["total"] > 0  # this machine's /proc/meminfo
    assert fake.calls[0] == "nvmlInit" and fake.calls[-1] == "nvmlShutdown"


def test_a_driver_without_memory_version_2_gives_its_version_1_figure():
    """Version 1 counts the driver's reserve (615 MiB on the H200) as used."""
    (card,) = nvml.read(FakeNvml.recorded(memory_v1_only=True))["gpus"]
    assert (card["memory_total"], card["memory_used"]) == (143771 * MIB, (143771 - 143156) * MIB)


def test_figures_nvml_does_not_support_are_null_and_the_rest_are_read():
    """As on a DGX GB10, whose GPU shares the host's memory: no memory figure from NVML."""
    reading = nvml.read(FakeNvml.recorded(unsupported={"nvmlDeviceGetMemoryInfo",
                                                       "nvmlDeviceGetPowerUsage"}))
    (card,) = reading["gpus"]
    assert (card["memory_total"], card["memory_used"], card["power_draw"]) == (None, None, None)
    assert (card["temperature"], card["power_limit"], card["name"]) == (35, 700.0, "NVIDIA H200")
    assert reading["available"] is True


def test_without_the_driver_the_reading_says_why():
    fake = FakeNvml.recorded(init_error=pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))
    assert nvml.read(fake) == {"available": False,
                               "reason": "NVML did not start: NVML Shared Library Not Found"}
    assert fake.calls == ["nvmlInit"]


def test_no_gpu_and_a_failing_call_are_readings_too():
    assert nvml.read(FakeNvml([])) == {"available": False, "reason": "NVML found no GPU"}
    failed = FakeNvml.recorded(unsupported={"nvmlDeviceGetCount"})
    assert nvml.read(failed) == {"available": False, "reason": "NVML failed: Not Supported"}
    assert failed.calls[-1] == "nvmlShutdown"


def test_running_processes_are_listed_with_their_memory():
    # The recorded H200 ran nothing: this process is the one figure not from the recording.
    fake = FakeNvml.recorded(processes=[RecordedProcess(4242, "python3", 20480 * MIB)])
    (card,) = nvml.read(fake)["gpus"]
    assert card["processes"] == [{"pid": 4242, "name": "python3", "memory_used": 20480 * MIB}]


def test_the_terminal_lines_match_nvidia_smi():
    assert nvml.lines(nvml.read(FakeNvml.recorded())) == [
        "NVIDIA driver 580.159.04",
        "GPU 0: NVIDIA H200 · 0 MiB / 143771 MiB · 0% · 35 °C · 95.93 W / 700 W · 0 process(es)"]
    assert nvml.lines({"available": False, "reason": "NVML found no GPU"}) == [
        "No GPU: NVML found no GPU"]


def test_host_memory_comes_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       131072000 kB\nMemFree:         1000 kB\n"
                       "MemAvailable:   65536000 kB\n")
    assert nvml.host_memory(meminfo) == {"total": 131072000 * 1024, "available": 65536000 * 1024}
    assert nvml.host_memory(tmp_path / "absent") is None


# Any import beyond the standard library, pynvml and the probe's own package fails.
ONLY_NVML = """
import runpy, sys
allowed = set(sys.stdlib_module_names) | {"pynvml", "cluster_app"}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in allowed:
            raise ImportError(f"the probe imported {name}")
sys.meta_path.insert(0, Refuse())
sys.argv = ["nvml", "--json"]
runpy.run_module("cluster_app.nodes.nvml", run_name="__main__")
"""


def test_the_probe_runs_as_its_own_process_with_nothing_but_nvidia_ml_py():
    """On this machine there is no NVIDIA driver: the real pynvml says so."""
    done = subprocess.run([sys.executable, "-c", ONLY_NVML], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    reading = json.loads(done.stdout)
    assert set(reading) == {"available", "reason"} or reading["available"] is True
    if not reading["available"]:
        assert reading["reason"].startswith("NVML did not start: ")


def test_the_stand_in_runs_the_probe_over_the_recording():
    done = subprocess.run([sys.executable, "-m", "tests.nvml_fake"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout)["gpus"] == [H200]
