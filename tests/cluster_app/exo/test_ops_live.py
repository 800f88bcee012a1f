"""Starting and stopping exo through the API, real workers and real processes: the exo
simulator's node agents play ALPHA and BETA on a simulator of this module's own, started with
its nodes down (the session's simulator keeps its nodes up for the other tests)."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from cluster_app.exo.demo import configure_demo_nodes
from cluster_app.models import ApiToken, Node
from tests import stack as live
from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
REDIS_DB = 3  # apart from the session stack's and the demo's


@pytest.fixture(scope="module")
def ops_dir(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp("exo-ops")


@pytest.fixture(scope="module")
def ops_exo(ops_dir: Path) -> Iterator[str]:
    with live.running_simulator("exo", ops_dir / "sim", "--stopped") as url:
        yield url
    for pid_file in (ops_dir / "var" / "exo").glob("*.pid"):  # agents left by a failed test
        _kill(pid_file)


@pytest.fixture(scope="module")
def ops_stack(django_db_setup: None, ops_exo: str, ops_dir: Path) -> Iterator[live.Stack]:
    database = live.stack_database_url()
    with live.separate_stack(database, ops_exo, "http://127.0.0.1:9", ops_dir / "stack",
                             redis_db=REDIS_DB, var_dir=ops_dir / "var") as running:
        yield running


@pytest.fixture
def exo_nodes(nodes: dict[str, Node], ops_exo: str, ops_dir: Path) -> dict[str, Node]:
    """The guide's nodes, set up as in demo mode: ALPHA runs the agent, BETA joins with the
    bootstrap command ALPHA prints."""
    configure_demo_nodes(exo_url=ops_exo, var_dir=ops_dir / "var", sim_log_dir=ops_dir / "sim")
    Node.objects.filter(in_exo_cluster=True).update(exo_start_timeout=20, exo_stop_grace=5)
    return {node.name: node for node in Node.objects.all()}


def _kill(pid_file: Path) -> None:
    with suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def finished(client: httpx.Client, job: dict[str, Any], timeout: float = 40) -> dict[str, Any]:
    return wait_until(lambda: (j := client.get(f"/api/v1/jobs/{job['id']}/").json())["state"]
                      in ("succeeded", "failed", "cancelled") and j, timeout=timeout)


def post(client: httpx.Client, path: str, status: int = 202) -> dict[str, Any]:
    response = client.post(path)
    assert response.status_code == status, response.text
    return response.json()


def agent(node: Node) -> psutil.Process:
    """The running agent that holds the node's PID lock."""
    process = psutil.Process(int(Path(node.exo_pid_file).read_text()))
    assert process.is_running() and "simulators.exo.node" in process.cmdline()
    return process


def gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def exo_state(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/state", timeout=5).json()


def friendly_names(state: dict[str, Any]) -> set[str]:
    return {identity["friendlyName"] for identity in state["nodeIdentities"].values()}


def rdma_linked(state: dict[str, Any], a: str, b: str) -> bool:
    identities = state["nodeIdentities"].items()
    ids = {name: [i for i, ident in identities if ident["friendlyName"] == name] for name in (a, b)}
    connections = state["topology"]["connections"]
    return any("sourceRdmaIface" in edge for x in ids[a] for y in ids[b]
               for edge in connections.get(x, {}).get(y, []))


def start_cluster(client: httpx.Client) -> dict[str, Any]:
    job = finished(client, post(client, "/api/v1/cluster/start/"))
    assert job["state"] == "succeeded", job
    return job


def test_cluster_start_and_stop_through_the_api(ops_stack, exo_nodes, operator_token, ops_exo,
                                                ops_dir):
    with api(ops_stack, operator_token) as client:
        queued = post(client, "/api/v1/cluster/start/")
        assert queued["kind"] == "cluster.start" and queued["node"] is None
        assert post(client, "/api/v1/cluster/start/")["id"] == queued["id"]  # a second click
        assert post(client, "/api/v1/cluster/stop/", 409)["error"]["code"] == "cluster_busy"

        job = finished(client, queued)
        assert job["state"] == "succeeded", job
        log = "\n".join(job["log_tail"])
        assert re.search(r"\[ALPHA\] .*Bootstrap command: .* --join", log)
        assert "[BETA] $ " in log and "exo version 1.0.71" in log
        alpha, beta = agent(exo_nodes["alpha"]), agent(exo_nodes["beta"])
        assert "--join" in beta.cmdline() and "--join" not in alpha.cmdline()
        state = exo_state(ops_exo)
        assert friendly_names(state) == {"ALPHA", "BETA"}
        assert rdma_linked(state, "ALPHA", "BETA")
        process = client.get("/api/v1/nodes/alpha/").json()["exo_process"]
        assert process["running"] and process["pid"] == alpha.pid
        assert process["version"] == "1.0.71" and process["started_at"] and process["checked_at"]
        # The start output went to the node's console log, the guide's /tmp/exo-alpha.log.
        assert "Bootstrap command:" in (ops_dir / "var" / "exo" / "alpha.log").read_text()

        again = finished(client, post(client, "/api/v1/cluster/start/"))
        assert again["state"] == "succeeded" and again["id"] != job["id"]
        assert f"[ALPHA] exo is already running on ALPHA (pid {alpha.pid})" in again["log_tail"]
        assert all(node["already_running"] for node in again["result"]["nodes"].values())
        assert agent(exo_nodes["beta"]).pid == beta.pid  # BETA was not started twice

        stop = finished(client, post(client, "/api/v1/cluster/stop/"))
        assert stop["state"] == "succeeded", stop
        stop_log = "\n".join(stop["log_tail"])
        # Reverse order: BETA is stopped before ALPHA.
        assert stop_log.index("[BETA] sending SIGINT") < stop_log.index("[ALPHA] sending SIGINT")
        assert gone(alpha) and gone(beta)
        assert not Path(exo_nodes["alpha"].exo_pid_file).exists()
        wait_until(lambda: not friendly_names(exo_state(ops_exo)), timeout=10)
        assert client.get("/api/v1/nodes/beta/").json()["exo_process"]["running"] is False


def test_restart_replaces_both_exo_processes(ops_stack, exo_nodes, operator_token):
    with api(ops_stack, operator_token) as client:
        start_cluster(client)
        before = [agent(exo_nodes[name]) for name in ("alpha", "beta")]
        job = finished(client, post(client, "/api/v1/cluster/restart/"))
        assert job["state"] == "succeeded", job
        after = [agent(exo_nodes[name]) for name in ("alpha", "beta")]
        assert all(gone(process) for process in before)
        assert {p.pid for p in after}.isdisjoint({p.pid for p in before})
        assert finished(client, post(client, "/api/v1/cluster/stop/"))["state"] == "succeeded"
        assert all(gone(process) for process in after)


def test_a_hanging_start_command_is_killed_at_its_timeout(ops_stack, exo_nodes, operator_token):
    Node.objects.filter(name="alpha").update(exo_start_command=["sleep", "600"],
                                             exo_start_timeout=2)
    with api(ops_stack, operator_token) as client:
        job = finished(client, post(client, "/api/v1/nodes/alpha/start/"))
    assert job["state"] == "failed", job
    assert job["error"].startswith("killed after 2 s: sleep 600 did not bring ALPHA into exo's")
    (pid,) = [int(m) for line in job["log_tail"] for m in re.findall(r"started as pid (\d+)", line)]
    assert not psutil.pid_exists(pid) or gone(psutil.Process(pid))


def test_a_start_command_that_exits_fails_with_its_exit_code(ops_stack, exo_nodes, operator_token):
    Node.objects.filter(name="alpha").update(
        exo_start_command=["sh", "-c", "echo 'cannot bind port 52415'; exit 3"])
    with api(ops_stack, operator_token) as client:
        job = finished(client, post(client, "/api/v1/nodes/alpha/start/"))
    assert job["state"] == "failed", job
    assert "exited with code 3" in job["error"]
    assert "Last output: cannot bind port 52415" in job["error"]


def test_cancelling_a_cluster_start_cancels_the_start_it_waits_for(ops_stack, exo_nodes,
                                                                   operator_token):
    Node.objects.filter(name="alpha").update(exo_start_command=["sleep", "600"],
                                             exo_start_timeout=60)
    with api(ops_stack, operator_token) as client:
        job = post(client, "/api/v1/cluster/start/")
        relayed = wait_until(lambda: [int(m) for line in client.get(
            f"/api/v1/jobs/{job['id']}/").json()["log_tail"]
            for m in re.findall(r"\[ALPHA\] started as pid (\d+)", line)])
        assert post(client, f"/api/v1/jobs/{job['id']}/cancel/", 200)["control"] == "cancel"
        assert finished(client, job, timeout=15)["state"] == "cancelled"
        (child,) = client.get("/api/v1/jobs/?kind=exo.start").json()
        assert finished(client, child, timeout=15)["state"] == "cancelled"
    (pid,) = relayed
    assert not psutil.pid_exists(pid) or gone(psutil.Process(pid))


def test_bootstrap_lines_planted_in_the_masters_output_are_never_run(ops_stack, exo_nodes,
                                                                     operator_token, ops_dir,
                                                                     tmp_path):
    """The attack: with ALPHA running, a line that looks like its bootstrap command lands in its
    console output (an echoed model name in an error line, or a bare line from a newline in
    one); BETA is stopped and the cluster started again. BETA must rejoin with what ALPHA
    printed when the panel started it, and the planted command must never run."""
    owned = tmp_path / "owned"
    planted = f"/bin/sh -c 'touch {owned}'"
    with api(ops_stack, operator_token) as client:
        start_cluster(client)
        alpha = agent(exo_nodes["alpha"])
        console = ops_dir / "var" / "exo" / "alpha.log"
        with console.open("a") as out:
            out.write("[ 2026-06-22 15:38:54.101 | ERROR    | "
                      "exo.master.api:chat_completions:1318 ] "
                      f"Model not found: Bootstrap command: {planted}\n")
            out.write(f"Bootstrap command: {planted}\n")
        assert finished(client, post(client, "/api/v1/nodes/beta/stop/"))["state"] == "succeeded"
        again = finished(client, post(client, "/api/v1/cluster/start/"))
        assert again["state"] == "succeeded", again
        beta = agent(exo_nodes["beta"])
        assert "--join" in beta.cmdline() and agent(exo_nodes["alpha"]).pid == alpha.pid
        assert not owned.exists()
        assert "/bin/sh" not in "\n".join(again["log_tail"])
        assert finished(client, post(client, "/api/v1/cluster/stop/"))["state"] == "succeeded"


def test_a_viewer_cannot_start_or_stop_exo(ops_stack, exo_nodes, bob):
    with api(ops_stack, ApiToken.issue(user=bob, name="viewer")[1]) as client:
        for path in ("/api/v1/nodes/beta/stop/", "/api/v1/cluster/start/"):
            assert post(client, path, 403)["error"]["code"] == "permission_denied"
    assert not Node.objects.filter(exo_pid__isnull=False).exists()
