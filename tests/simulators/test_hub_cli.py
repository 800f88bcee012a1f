"""`python -m simulators.hub`: flags, startup, and independence from the panel."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from simulators.hub.__main__ import build_parser, state_from_args

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_module_serves_the_demo_manifest_at_the_default_scale_and_its_cdn() -> None:
    port, cdn_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.hub",
            "--port",
            str(port),
            "--cdn-port",
            str(cdn_port),
            "--token",
            "t1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    try:
        info = None
        deadline = time.monotonic() + 10
        while info is None and time.monotonic() < deadline:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/_sim/info", timeout=1).json()
            except httpx.TransportError:
                time.sleep(0.05)
        shard = "mlx-community/Llama-3.2-1B-Instruct-4bit/resolve/main/model.safetensors"
        redirect = httpx.head(f"http://127.0.0.1:{port}/{shard}", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    assert info is not None, "simulator did not answer"
    assert info["scale"] == "1/20000"
    assert info["tokens_configured"] == 1
    deepseek = next(r for r in info["repos"] if r["id"] == "mlx-community/DeepSeek-V3-4bit")
    assert deepseek["true_weight_bytes"] == 405_874_409_472
    assert deepseek["served_weight_bytes"] == 405_874_409_472 // 20000
    assert info["cdn"] == {"port": cdn_port, "ttl_seconds": 3600.0}
    assert redirect.status_code == 302
    assert redirect.headers["location"].startswith(f"http://127.0.0.1:{cdn_port}/repos/")


def test_bad_flags_exit_with_status_2_and_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators.hub", "--tiny", "--scale", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "scale" in result.stderr


def test_simulator_imports_nothing_of_the_panel() -> None:
    code = (
        "import sys, pkgutil, importlib, simulators.hub as h\n"
        "for m in pkgutil.iter_modules(h.__path__):\n"
        "    importlib.import_module('simulators.hub.' + m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework', 'arthur_panel', 'cluster_app', 'models_app')]\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_flags_build_the_state(tmp_path: Path) -> None:
    fault = json.dumps({"kind": "drop", "path": "*.safetensors", "after_bytes": 10})
    args = build_parser().parse_args(
        [
            "--tiny",
            "--token",
            "a",
            "--token",
            "b",
            "--bandwidth",
            "5000",
            "--bandwidth-per",
            "connection",
            "--fault",
            fault,
            "--cache-dir",
            str(tmp_path),
            "--tree-page-size",
            "7",
            "--cdn-ttl",
            "30",
        ]
    )

    state = state_from_args(args)

    assert state.tokens == {"a", "b"}
    assert state.bandwidth.as_json() == {"bytes_per_second": 5000, "per": "connection"}
    assert [(f.kind, f.after_bytes) for f in state.faults.all()] == [("drop", 10)]
    assert state.tree_page_size == 7
    assert state.cdn.ttl == 30
    assert str(state.store.scale) == "1"
    repo = next(iter(state.store.repos.values()))
    state.store.sha256(repo.files["config.json"])
    assert (tmp_path / "sha256.json").exists()


def test_a_cdn_link_lifetime_must_be_positive() -> None:
    with pytest.raises(ValueError, match="--cdn-ttl"):
        state_from_args(build_parser().parse_args(["--tiny", "--cdn-ttl", "0"]))
