"""The faults a home cluster has, with real processes: a Celery worker SIGKILLed (its whole
process group, as the OOM killer or a power cut would) in the middle of a cluster start, of a
model load, of a health run and of the link benchmark; and exo restarted (killed, then started
again on its port) in the middle of a model load. Each job is taken over once its lease runs
out and finishes, or fails saying why; exo is never started twice; nothing the dead worker ran
runs on, save the exo it started, which the re-run takes as the node's running exo; and the
dashboard shows the restarted exo's new node ids.

One stack for the module, on an exo simulator of its own (its nodes down at first, brought up
by the cluster start as in test_ops_live), with its workers run here so they can be killed and
replaced; leases of 5 s (the stack's JOB_LEASE_SECONDS) keep the take-overs quick. Nothing here
differs between the databases: the SQLite pass runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.sync.client import connect

from arthur_panel.launcher import exo_simulator_command, free_port, wait_for_port
from cluster_app.exo.demo import configure_demo_nodes
from cluster_app.models import Job, LinkBenchmark, Node
from tests import stack as live
from tests.stack import (
    EXO_SIM_FAST,
    FAST_LOAD_TIME,
    api,
    control_worker_command,
    start,
    wait_for_worker,
    wait_until,
    worker_command,
)

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True), pytest.mark.sqlite_pass]
REDIS_DB = 8  # apart from the session stack's and the other modules' own
LLAMA = "mlx-community/Llama-3.2-1B-Instruct-4bit"
AGENT = "simulators.exo.node"
# A lease of 5 s, recovery every 5 s, a worker's start: a take-over comes well within this.
TAKE_OVER = 60


class Exo:
    """The module's exo simulator: a process killed with SIGKILL and started again on its
    port, its nodes down at first (`--stopped`) or, started again, up under new ids."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> None:
        self.starts += 1
        command = exo_simulator_command(self.port, self.work / "sim", *EXO_SIM_FAST, *extra)
        self.process = start(command, dict(os.environ), self.work / f"exo-{self.starts}.log")
        wait_for_port(self.port, timeout=30)

    def kill(self) -> None:
        if self.process is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/state", timeout=5).json()

    def settings(self, **values: float) -> None:
        httpx.post(f"{self.url}/_sim/settings", json=values, timeout=5).raise_for_status()

    def faults(self, **values: float) -> None:
        httpx.post(f"{self.url}/_sim/faults", json=values, timeout=5).raise_for_status()

    def node_ids(self) -> dict[str, str]:
        """exo's node ids by friendly name."""
        return {identity["friendlyName"]: node_id
                for node_id, identity in self.state()["nodeIdentities"].items()}

    def instances_of(self, model_id: str) -> list[str]:
        return [body["instanceId"] for tagged in self.state()["instances"].values()
                for body in tagged.values() if body["shardAssignments"]["modelId"] == model_id]


class Workers:
    """The stack's two workers, bulk and control, as the Procfile runs them; each can be
    SIGKILLed and another started in its place."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.starts = 0

    def start(self, *lanes: str) -> None:
        """Start a worker of each lane, side by side, and wait until all are ready."""
        logs = []
        for lane in lanes:
            self.starts += 1
            logs.append(self.log_dir / f"{lane}-{self.starts}.log")
            command = control_worker_command() if lane == "control" else worker_command()
            self.running[lane] = start(command, self.env, logs[-1])
        for log in logs:
            wait_for_worker(self.env, log)

    def descendants(self, lane: str) -> list[psutil.Process]:
        return psutil.Process(self.running[lane].pid).children(recursive=True)

    def kill(self, lane: str) -> None:
        """SIGKILL the worker's whole process group (its pool too)."""
        worker = self.running.pop(lane)
        with suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


@pytest.fixture(scope="module")
def work(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def exo(work: Path) -> Iterator[Exo]:
    simulator = Exo(work)
    simulator.start("--stopped")
    yield simulator
    simulator.kill()
    for pid_file in (work / "var" / "exo").glob("*.pid"):  # agents left by a failed test
        with suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.fixture(scope="module")
def fault_stack(django_db_setup: None, exo: Exo, work: Path) -> Iterator[live.Stack]:
    database = live.stack_database_url()
    # The session's stack, if one runs, shares the database: it is paused meanwhile, so its
    # recovery does not hand the jobs whose worker a test kills to its own workers.
    with live.separate_stack(database, exo.url, "http://127.0.0.1:9", work / "stack",
                             redis_db=REDIS_DB, var_dir=work / "var", workers=False) as stack:
        yield stack


@pytest.fixture(scope="module")
def workers(fault_stack: live.Stack) -> Iterator[Workers]:
    running = Workers(fault_stack.env, fault_stack.log_dir)
    running.start("bulk", "control")
    yield running
    for lane in list(running.running):  # nothing to finish gently: the tests are done
        running.kill(lane)


@pytest.fixture
def exo_nodes(nodes: dict[str, Node], exo: Exo, work: Path) -> dict[str, Node]:
    """ALPHA runs the simulator's node agent, BETA joins with the bootstrap command ALPHA
    prints, as in demo mode."""
    configure_demo_nodes(exo_url=exo.url, var_dir=work / "var", sim_log_dir=work / "sim")
    Node.objects.filter(in_exo_cluster=True).update(exo_start_timeout=20, exo_stop_grace=5)
    return {node.name: node for node in Node.objects.all()}


@pytest.fixture
def client(fault_stack: live.Stack, operator_token: str) -> Iterator[httpx.Client]:
    with api(fault_stack, operator_token) as http:
        yield http


def job(client: httpx.Client, job_id: int) -> dict[str, Any]:
    return client.get(f"/api/v1/jobs/{job_id}/").json()


def final(client: httpx.Client, job_id: int) -> dict[str, Any]:
    return wait_until(lambda: (j := job(client, job_id))["state"]
                      in ("succeeded", "failed", "cancelled") and j, timeout=TAKE_OVER)


def post(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


def explain(job: dict[str, Any]) -> str:
    return "\n".join([f"{job['kind']} #{job['id']} {job['state']}: {job['error']}",
                      *job["log_tail"]])


def gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def agents(exo: Exo) -> dict[str, psutil.Process]:
    """Every node agent running against the module's exo, by the node it plays."""
    found = {}
    for process in psutil.process_iter(["cmdline", "environ"]):
        cmdline = process.info["cmdline"] or []
        if AGENT in cmdline and exo.url in cmdline:
            name = (cmdline[cmdline.index("--name") + 1] if "--name" in cmdline
                    else (process.info["environ"] or {}).get("EXO_SIM_NODE", "?"))
            assert name not in found, f"two exo processes for {name}"
            found[name] = process
    return found


@pytest.fixture
def cluster_up(exo_nodes: dict[str, Node], workers: Workers, exo: Exo,
               client: httpx.Client) -> dict[str, Node]:
    """ALPHA and BETA up in exo: started here unless an earlier test left them running."""
    if set(agents(exo)) != {"ALPHA", "BETA"}:
        started = final(client, post(client, "/api/v1/cluster/start/")["id"])
        assert started["state"] == "succeeded", explain(started)
    return exo_nodes


def test_a_cluster_start_whose_worker_is_killed_after_exo_started_does_not_start_it_again(
        exo_nodes, workers, exo, client, work):
    assert not agents(exo)  # the module's first test: the nodes are down
    # ALPHA's start is held until the kill: exo's state answers later than the start job waits.
    exo.faults(latency=3.0)
    cluster = post(client, "/api/v1/cluster/start/")
    # ALPHA's exo.start ran its command: the exo process is starting.
    alpha, spawned = wait_until(lambda: next(
        ((start, int(found[1])) for start in Job.objects.filter(kind="exo.start")
         for line in start.log_tail if (found := re.match(r"started as pid (\d+)", line))),
        None), timeout=30)

    workers.kill("control")  # the cluster job and ALPHA's start job die with it
    exo.faults(latency=0.0)
    workers.start("control")

    assert psutil.pid_exists(spawned)  # exo outlives the worker that started it, by design
    done = final(client, cluster["id"])
    assert done["state"] == "succeeded", explain(done)
    alpha_start = job(client, alpha.pk)
    assert alpha_start["state"] == "succeeded" and alpha_start["attempts"] == 2
    assert done["attempts"] == 2  # both taken over once their lease ran out
    assert any("started by this job before its worker died, still runs: following it"
               in line for line in alpha_start["log_tail"])
    # Never started twice: ALPHA runs the exo its first attempt started, BETA joined with the
    # bootstrap command that exo printed, and exo's console saw one start on ALPHA.
    running = agents(exo)
    assert set(running) == {"ALPHA", "BETA"} and running["ALPHA"].pid == spawned
    assert alpha_start["result"]["pid"] == spawned and "bootstrap_command" in alpha_start["result"]
    assert "--join" in running["BETA"].cmdline()
    assert (work / "var" / "exo" / "alpha.log").read_text().count("Starting EXO") == 1
    assert set(exo.node_ids()) == {"ALPHA", "BETA"}
    # The node's row names the exo that runs: no orphan, the node's own exo.
    assert client.get("/api/v1/nodes/alpha/").json()["exo_process"]["pid"] == spawned


def test_control_jobs_whose_worker_is_killed_are_taken_over_by_their_lease(
        cluster_up, guide_models, workers, exo, client):
    exo.settings(load_time=60)  # the load is held while its layers load, until the kill
    load = post(client, "/api/v1/instances/", {"model": "llama-3.2-1b"})
    wait_until(lambda: job(client, load["id"])["unit"] == "layers", timeout=30)
    placed = job(client, load["id"])["result"]["instance_id"]
    exo.faults(latency=4.0)  # the health run is held while it asks exo, until the kill
    health = post(client, "/api/v1/health/")
    wait_until(lambda: job(client, health["id"])["state"] == "running")

    workers.kill("control")
    exo.settings(load_time=FAST_LOAD_TIME)
    exo.faults(latency=0.0)
    workers.start("control")

    loaded, checked = final(client, load["id"]), final(client, health["id"])
    for done in (loaded, checked):
        assert done["state"] == "succeeded", explain(done)
        assert done["attempts"] == 2, explain(done)
    # The load's re-run followed the instance placed before the kill: no second one.
    assert loaded["result"]["instance_id"] == placed
    assert exo.instances_of(LLAMA) == [placed]
    assert f"following instance {placed}, placed by this job before its worker died" \
        in loaded["log_tail"]
    # The health run's re-run asked every node again, and each answered.
    assert checked["result"]["silent_nodes"] == []


def test_a_link_benchmark_whose_worker_is_killed_leaves_no_rank_running(exo_nodes, workers,
                                                                      client):
    started = post(client, "/api/v1/linkbench/", {"backend": "auto", "quick": True})

    def launched() -> list[psutil.Process]:
        """The worker's processes once both ranks run: its pool, mlx.launch, the ranks."""
        try:
            tree = workers.descendants("bulk")
            ranks = [p for p in tree if "cluster_app.linkbench.rank" in " ".join(p.cmdline())]
        except psutil.Error:  # one ended while it was read
            return []
        return tree if len(ranks) >= 2 else []

    benchmark = wait_until(launched, timeout=30)
    workers.kill("bulk")

    # mlx.launch and its ranks end with the worker that started them, at once: not at the
    # end of their run, nor when the lease runs out.
    wait_until(lambda: all(gone(process) for process in benchmark), timeout=5)
    workers.start("bulk")
    done = final(client, started["id"])
    assert done["state"] == "succeeded", explain(done)
    assert done["attempts"] == 2
    assert LinkBenchmark.objects.filter(job_id=started["id"]).count() == 1


def test_exo_restarted_under_a_load_fails_it_saying_so_and_the_dashboard_shows_the_new_ids(
        cluster_up, guide_models, workers, exo, client, fault_stack, operator_token):
    exo.settings(load_time=60)  # loading until exo restarts
    started = post(client, "/api/v1/instances/", {"model": "llama-3.2-1b"})
    wait_until(lambda: job(client, started["id"])["unit"] == "layers", timeout=30)
    old = exo.node_ids()
    with connect(f"{fault_stack.ws_url}/ws/cluster/", open_timeout=10,
                 additional_headers={"Authorization": f"Bearer {operator_token}"}) as ws:
        ws.recv(timeout=10)  # the current state

        exo.kill()
        exo.start()  # its nodes up at once, under new ids, and no instance
        new = exo.node_ids()
        assert set(new) == {"ALPHA", "BETA"} and set(new.values()).isdisjoint(old.values())

        # Once a poll has found exo gone (the nodes keep their last ids meanwhile), the first
        # that reaches it again shows the new ids.
        gone = False
        while True:
            frame = json.loads(ws.recv(timeout=10))
            if frame["type"] != "cluster":
                continue
            cluster = frame["cluster"]
            gone = gone or not cluster["reachable"]
            ids = {node["name"]: node["exo_node_id"] for node in cluster["nodes"]
                   if node["name"] in ("alpha", "beta")}
            # (A poll under way at the kill may still show the old ids.)
            if cluster["reachable"] and (gone or ids != {"alpha": old["ALPHA"],
                                                         "beta": old["BETA"]}):
                # New ids; on a loaded machine a node may have timed out and rejoined under
                # yet another one since, so the check is "none of the old ones".
                assert set(ids.values()).isdisjoint(old.values()), cluster
                break
    wait_until(lambda: client.get("/api/v1/nodes/alpha/").json()["exo_node_id"]
               == exo.node_ids()["ALPHA"], timeout=10)

    done = final(client, started["id"])
    assert done["state"] == "failed" and done["error_code"] == "exo_restarted", explain(done)
    assert done["error"].startswith("exo restarted while the model was loading: ")
    assert exo.instances_of(LLAMA) == []
