"""``python -m simulators.exo.node``: a real process that plays one node's exo against a
simulator started with its nodes down."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulators.exo.__main__ import config_from_args
from simulators.exo.config import SimConfig
from simulators.exo.testing import FAST, RunningSim, running

AGENT = [sys.executable, "-m", "simulators.exo.node"]
PATTERN = re.compile(r"(?i)bootstrap command:\s*(?P<command>.+)")  # the panel's default
Started = tuple[subprocess.Popen[str], Path]


@pytest.fixture
def sim(make_exo_sim: Callable[..., RunningSim]) -> RunningSim:
    return make_exo_sim(stopped=True)


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., Started]]:
    """Start agents (output to a file); any still running at the end are killed."""
    started: list[subprocess.Popen[str]] = []

    def start(argv: list[str], env: dict[str, str] | None = None) -> Started:
        output = tmp_path / f"agent-{len(started)}.out"
        with output.open("w") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True,
                                       env={**os.environ, **(env or {})})
        started.append(process)
        return process, output

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def names_up(sim: RunningSim) -> set[str]:
    return {ident["friendlyName"] for ident in sim.state()["nodeIdentities"].values()}


def test_the_simulator_can_start_with_every_node_down(sim):
    assert config_from_args(["--stopped"]).stopped and not config_from_args([]).stopped
    state = sim.state()
    assert state["nodeIdentities"] == {} and state["topology"] == {"nodes": [], "connections": {}}


def test_a_master_and_a_joining_node_come_up_and_go_down_like_exo(sim, agents, tmp_path):
    alpha_lock, beta_lock = tmp_path / "alpha.pid", tmp_path / "beta.pid"
    alpha, alpha_out = agents([*AGENT, "--api", sim.url, "--name", "ALPHA",
                               "--pid-file", str(alpha_lock), "--poll", "0.1"])
    sim.wait_for(lambda: names_up(sim) == {"ALPHA"}, timeout=10)
    assert alpha_lock.read_text().strip() == str(alpha.pid)
    output = alpha_out.read_text()
    assert "exo version 1.0.71" in output and "Node elected Master" in output
    command = next(m["command"] for line in output.splitlines() if (m := PATTERN.search(line)))

    # BETA runs the master's bootstrap command; its name and lock come from its environment.
    beta, beta_out = agents(shlex.split(command), env={"EXO_SIM_NODE": "BETA",
                                                       "EXO_SIM_PID_FILE": str(beta_lock)})
    sim.wait_for(lambda: names_up(sim) == {"ALPHA", "BETA"}, timeout=10)
    connections = sim.state()["topology"]["connections"]
    assert any("sourceRdmaIface" in edge for sinks in connections.values()
               for edges in sinks.values() for edge in edges)
    assert f"Node {sim.node_id('ALPHA')} elected master" in beta_out.read_text()

    beta.send_signal(signal.SIGTERM)
    assert beta.wait(timeout=10) == 0
    assert not beta_lock.exists()
    assert "Received SIGTERM, shutting down" in beta_out.read_text()
    assert not sim.cluster.node_by_name("BETA").alive
    alpha.send_signal(signal.SIGINT)
    assert alpha.wait(timeout=10) == 0 and not alpha_lock.exists()
    assert not any(node.alive for node in sim.cluster.nodes)


def test_exos_pid_lock_allows_one_process(sim, agents, tmp_path):
    lock = tmp_path / "exo.pid"
    first, _ = agents([*AGENT, "--api", sim.url, "--name", "ALPHA", "--pid-file", str(lock)])
    sim.wait_for(lambda: names_up(sim) == {"ALPHA"}, timeout=10)
    second, output = agents([*AGENT, "--api", sim.url, "--name", "ALPHA", "--pid-file", str(lock)])
    assert second.wait(timeout=10) == 1
    assert f"exo is already running (pid {first.pid}" in output.read_text()
    assert lock.read_text().strip() == str(first.pid)


def test_a_lock_left_by_a_dead_process_is_taken_over(sim, agents, tmp_path):
    lock = tmp_path / "exo.pid"
    lock.write_text("999999999\n")
    agent, _ = agents([*AGENT, "--api", sim.url, "--name", "ALPHA", "--pid-file", str(lock)])
    sim.wait_for(lambda: names_up(sim) == {"ALPHA"}, timeout=10)
    assert lock.read_text().strip() == str(agent.pid)


def test_joining_without_a_master_fails(sim, agents, tmp_path):
    agent, output = agents([*AGENT, "--api", sim.url, "--join", "--name", "BETA",
                            "--pid-file", str(tmp_path / "exo.pid")])
    assert agent.wait(timeout=10) == 1
    assert "No exo master to join" in output.read_text()
    assert not (tmp_path / "exo.pid").exists()


def test_an_unknown_node_is_refused(sim, agents, tmp_path):
    agent, output = agents([*AGENT, "--api", sim.url, "--name", "OMEGA",
                            "--pid-file", str(tmp_path / "exo.pid")])
    assert agent.wait(timeout=10) == 1
    assert "Cannot start OMEGA: No node named OMEGA" in output.read_text()


def test_the_agent_exits_when_the_simulator_stops_answering(agents, tmp_path):
    config = SimConfig(**{**FAST, "log_dir": tmp_path / "logs", "port": 0, "stopped": True})
    with running(config, wait_for_shutdown=True) as sim:
        agent, output = agents([*AGENT, "--api", sim.url, "--name", "ALPHA", "--poll", "0.1",
                                "--give-up", "2", "--pid-file", str(tmp_path / "exo.pid")])
        sim.wait_for(lambda: names_up(sim) == {"ALPHA"}, timeout=10)
    assert agent.wait(timeout=10) == 1
    assert "stopped answering; shutting down" in output.read_text()
    assert not (tmp_path / "exo.pid").exists()


def test_the_agent_exits_when_its_node_is_stopped_in_the_simulator(sim, agents, tmp_path):
    agent, output = agents([*AGENT, "--api", sim.url, "--name", "ALPHA", "--poll", "0.1",
                            "--pid-file", str(tmp_path / "exo.pid")])
    sim.wait_for(lambda: names_up(sim) == {"ALPHA"}, timeout=10)
    assert sim.client.post("/_sim/nodes/ALPHA/drop").status_code == 200
    assert agent.wait(timeout=10) == 1
    assert "was stopped in the simulator" in output.read_text()


def test_a_name_is_required(agents):
    agent, output = agents([*AGENT, "--api", "http://127.0.0.1:9"], env={"EXO_SIM_NODE": ""})
    assert agent.wait(timeout=10) == 2
    assert "--name or $EXO_SIM_NODE" in output.read_text()
