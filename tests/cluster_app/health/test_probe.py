"""A node's own observations: ibv_devinfo run for real (a small script printing recorded
output stands in for the Mac program), the real MLX, and model directories on disk."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import mlx.core as mx
import pytest

from cluster_app.health import probe
from cluster_app.health.checks import FAIL, PASS, UNAVAILABLE, WARN, NeededModel
from cluster_app.models import Node

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"


def fake_ibv_devinfo(folder: Path, *, answers: dict[str, str], name: str = "ibv_devinfo",
                     body: str | None = None) -> Path:
    """A program that answers `-d <device>` with the recorded output for that device, and
    like ibv_devinfo (to stderr, exit 255) for any other."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = "".join(f"  {device}) cat '{FIXTURES / fixture}' ;;\n"
                    for device, fixture in answers.items())
    program = folder / name
    program.write_text(body or (
        "#!/bin/sh\n"
        '[ "$1" = "-d" ] || { echo "usage: ibv_devinfo -d <dev>" >&2; exit 1; }\n'
        f'case "$2" in\n{cases}'
        "  *) echo \"IB device '$2' wasn't found\" >&2; exit 255 ;;\n"
        "esac\n"))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


@pytest.fixture
def alpha(settings, tmp_path) -> Node:
    settings.MODELS_DIR = tmp_path / "models"
    return Node(name="alpha", display_name="ALPHA", rdma_interface="rdma_en3")


def test_ibv_devinfo_with_an_active_port(alpha, tmp_path, settings):
    settings.IBV_DEVINFO_PATH = str(fake_ibv_devinfo(
        tmp_path / "bin", answers={"rdma_en3": "ibv_devinfo_rdma_en3_active.txt"}))
    outcome = probe.probe_rdma(alpha)
    assert (outcome.status, outcome.summary) == (PASS, "rdma_en3: PORT_ACTIVE")
    assert outcome.evidence["command"] == [settings.IBV_DEVINFO_PATH, "-d", "rdma_en3"]
    assert outcome.evidence["hca_id"] == "rdma_en3"
    assert outcome.evidence["output"] == (FIXTURES / "ibv_devinfo_rdma_en3_active.txt").read_text()


def test_ibv_devinfo_with_the_port_down(tmp_path, settings):
    settings.IBV_DEVINFO_PATH = str(fake_ibv_devinfo(
        tmp_path / "bin", answers={"rdma_en4": "ibv_devinfo_rdma_en4_port_down.txt"}))
    beta = Node(name="beta", display_name="BETA", rdma_interface="rdma_en4")
    outcome = probe.probe_rdma(beta)
    assert (outcome.status, outcome.summary) == (FAIL, "rdma_en4: PORT_DOWN")
    assert outcome.evidence["fw_ver"] == "16.35.2000"


def test_ibv_devinfo_that_does_not_know_the_device(alpha, tmp_path, settings):
    settings.IBV_DEVINFO_PATH = str(fake_ibv_devinfo(tmp_path / "bin", answers={}))
    outcome = probe.probe_rdma(alpha)
    assert (outcome.status, outcome.evidence["returncode"]) == (FAIL, 255)
    assert outcome.summary == ("rdma_en3 not found by ibv_devinfo on ALPHA: "
                               "IB device 'rdma_en3' wasn't found")


def test_ibv_devinfo_absent_is_not_available(alpha, tmp_path, settings):
    missing = tmp_path / "nowhere" / "no-such-ibv_devinfo"
    settings.IBV_DEVINFO_PATH = str(missing)
    outcome = probe.probe_rdma(alpha)
    assert (outcome.status, outcome.summary) == (UNAVAILABLE, "ibv_devinfo not found on ALPHA")
    assert outcome.evidence == {"looked_for": [str(missing), "no-such-ibv_devinfo on PATH"]}


def test_a_configured_path_that_is_not_there_falls_back_to_path(alpha, tmp_path, settings,
                                                              monkeypatch):
    folder = tmp_path / "on-path"
    fake_ibv_devinfo(folder, answers={"rdma_en3": "ibv_devinfo_rdma_en3_active.txt"})
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    settings.IBV_DEVINFO_PATH = str(tmp_path / "usr-bin" / "ibv_devinfo")
    outcome = probe.probe_rdma(alpha)
    assert outcome.status == PASS
    assert outcome.evidence["command"][0] == str(folder / "ibv_devinfo")


def test_ibv_devinfo_is_killed_at_its_timeout(alpha, tmp_path, settings, monkeypatch):
    monkeypatch.setattr(probe, "IBV_TIMEOUT", 0.3)
    settings.IBV_DEVINFO_PATH = str(fake_ibv_devinfo(
        tmp_path / "bin", answers={}, body="#!/bin/sh\necho starting\nexec sleep 30\n"))
    outcome = probe.probe_rdma(alpha)
    assert (outcome.status, outcome.summary) == (
        FAIL, "ibv_devinfo -d rdma_en3 did not finish within 0.3 s")
    assert outcome.evidence["output"] == "starting\n"


def test_the_real_mlx_reports_metal_honestly(alpha):
    outcome = probe.probe_mlx(alpha)
    facts = outcome.evidence
    assert facts["mlx_version"] == mx.__version__
    assert facts["metal_available"] is mx.metal.is_available()
    assert facts["default_device"] == str(mx.default_device())
    assert isinstance(facts["device_info"], dict)
    # Without Metal (this Linux machine) MLX runs on the CPU: a warning, never a pass.
    assert outcome.status == (PASS if mx.metal.is_available() else WARN)


def write_model(folder: Path, shards: list[str], present: list[str]) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {f"layer.{i}": shard for i, shard in enumerate(shards)}}))
    for shard in present:
        (folder / shard).write_bytes(b"\0" * 64)


def test_model_files_present_and_incomplete(alpha):
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    folder = alpha.model_path(LLAMA_1B)
    assert folder == alpha.models_path / "mlx-community--Llama-3.2-1B-Instruct-4bit"
    needed = [NeededModel(LLAMA_1B, LLAMA_1B)]

    missing = probe.probe_model_files(alpha, needed)
    assert (missing.status, missing.evidence["problems"]) == (
        FAIL, [f"{LLAMA_1B}: no directory {folder}"])

    write_model(folder, shards, present=shards[:1])
    partial = probe.probe_model_files(alpha, needed)
    assert partial.evidence["problems"] == [f"{LLAMA_1B}: 1 weight file(s) missing"]
    assert partial.evidence["models"][0]["missing"] == shards[1:]

    (folder / shards[1]).write_bytes(b"\0" * 64)
    complete = probe.probe_model_files(alpha, needed)
    assert (complete.status, complete.summary) == (PASS, f"Present on ALPHA: {LLAMA_1B}")
    assert complete.evidence["models"][0]["weight_bytes"] == 128


def test_model_files_when_exo_could_not_say():
    node = Node(name="beta", display_name="BETA")
    outcome = probe.probe_model_files(node, None)
    assert outcome.status == UNAVAILABLE
    assert outcome.summary == ("Not checked: exo's state could not be read, so which models "
                               "this node needs is unknown")
