"""``python -m simulators.exo``: flags, and a real process serving the API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from simulators.exo.__main__ import config_from_args
from simulators.exo.testing import free_port

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_guides_cluster_on_exos_port() -> None:
    config = config_from_args([])
    assert (config.host, config.port) == ("127.0.0.1", 52415)
    assert [(n.name, n.memory_gib, n.rdma_iface) for n in config.nodes] == [
        ("ALPHA", 512, "rdma_en3"), ("BETA", 256, "rdma_en4")]
    assert config.node_timeout == 30.0 and config.speed == 1.0
    assert config.exo_version == "main" and config.rescan_interval == 60.0
    assert config.retry_backoff == 0.5


def test_flags_fill_the_config(tmp_path: Path) -> None:
    config = config_from_args([
        "--node", "ALPHA:512:friendly=Ada's Mac Studio",
        "--node", "BETA:256:rdma_ctl=off,models_dir=/m/beta,disk=1024",
        "--exo-version", "1.0.71", "--rescan-interval", "2", "--retry-backoff", "0.1",
        "--hf-endpoint", "http://127.0.0.1:8790",
        "--port", "6000", "--host", "0.0.0.0", "--log-dir", str(tmp_path),
        "--models-dir", "/models", "--load-time", "2", "--speed", "10",
        "--model-speed", "mlx-community/DeepSeek-V3.1-4bit=120",
        "--downloaded", "mlx-community/Llama-3.2-1B-Instruct-4bit@BETA",
        "--node-timeout", "5", "--latency", "0.5", "--error-rate", "0.1",
        "--drop-node", "BETA@12", "--fail-load", "mlx-community/DeepSeek-V3.1-4bit",
    ])
    alpha, beta = config.nodes
    assert alpha.friendly_name == "Ada's Mac Studio" and beta.display_name == "BETA"
    assert (config.exo_version, config.rescan_interval, config.retry_backoff) == (
        "1.0.71", 2.0, 0.1)
    assert config.hf_endpoint == "http://127.0.0.1:8790"
    assert not beta.rdma_enabled and beta.disk_gib == 1024
    assert config.models_dir_for(beta) == "/m/beta"
    assert config.models_dir_for(alpha) == "/models/alpha"
    assert (config.port, config.host, config.log_dir) == (6000, "0.0.0.0", tmp_path)
    assert (config.load_time, config.speed, config.node_timeout) == (2.0, 10.0, 5.0)
    assert config.model_speeds == {"mlx-community/DeepSeek-V3.1-4bit": 120.0}
    assert config.downloaded_on(beta) == {"mlx-community/Llama-3.2-1B-Instruct-4bit"}
    assert config.downloaded_on(alpha) == set()
    assert (config.latency, config.error_rate) == (0.5, 0.1)
    assert config.drop_nodes == [("BETA", 12.0)]
    assert config.fail_load == {"mlx-community/DeepSeek-V3.1-4bit"}


@pytest.mark.parametrize("argv", [
    ["--node", "ALPHA"],
    ["--node", "ALPHA:512:colour=red"],
    ["--model-speed", "nope/nope=10"],
    ["--downloaded", "nope/nope"],
    ["--fail-load", "nope/nope"],
    ["--exo-version", "0.9"],
    ["--downloaded", "mlx-community/DeepSeek-V3-4bit"],
])
def test_bad_flags_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        config_from_args(argv)
    assert exit_info.value.code == 2


def test_module_runs_as_a_server(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.exo", "--port", str(port), "--log-dir",
         str(tmp_path), "--node", "ONE:64", "--node", "TWO:32:rdma_ctl=off", "--tick", "0.05"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                node_id = httpx.get(f"http://127.0.0.1:{port}/node_id").json()
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
        state = httpx.get(f"http://127.0.0.1:{port}/state").json()
        assert state["nodeIdentities"][node_id]["friendlyName"] == "ONE"
        assert sorted(i["friendlyName"] for i in state["nodeIdentities"].values()) == [
            "ONE", "TWO"]
        assert {v["enabled"] for v in state["nodeRdmaCtl"].values()} == {True, False}
        assert (tmp_path / "one" / "exo.log").exists() and (tmp_path / "two" / "exo.log").exists()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
