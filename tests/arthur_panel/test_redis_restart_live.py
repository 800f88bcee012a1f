"""Redis killed (SIGKILL) and started again on its port while the panel works: a download
moving bytes, a cluster start between its two nodes, eight chat streams. Each case ends with
every job finished (none left queued or running), sockets reconnected to the current state,
beat polling again, and every stream ended cleanly with its usage record.

The stack is this module's own, on a Redis of its own started as `make run` starts one
(`redis_command`: append-only persistence, so what Redis took before the kill is there after
it); the session's Redis serves every other test. Its jobs' lease is 5 s (tests/stack.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from django.utils import timezone
from huggingface_hub import HfApi
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from arthur_panel.launcher import free_port, private_redis_url, redis_command
from cluster_app.exo.demo import configure_demo_nodes
from cluster_app.jobs.consumers import CLOSE_TRY_AGAIN
from cluster_app.jobs.services import NOT_SENT
from cluster_app.models import Job, Node
from models_app.catalogue.services import model_add_from_hub
from models_app.models import UsageRecord
from tests import stack as live
from tests.conftest import LLAMA_1B
from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True),
              pytest.mark.sqlite_pass]
REPO = "sim-org/wide-4bit"
STREAMS = 8
ANSWER_TOKENS = 400


class RedisServer:
    """A redis-server process on a fixed port, killed and started again on it."""

    def __init__(self, port: int, data_dir: Path) -> None:
        self.command = redis_command(port, data_dir)
        self.url = private_redis_url(port)
        self.log = data_dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:  # refused, or still loading its append-only file
                return False

        wait_until(answers, timeout=15)
        client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    @contextmanager
    def down(self) -> Iterator[None]:
        """Killed on entry, started again on exit."""
        self.kill()
        try:
            yield
        finally:
            self.start()


@pytest.fixture(scope="module")
def fault_dir(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp("redis-restart")


@pytest.fixture(scope="module")
def redis_server(fault_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), fault_dir / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def fault_exo(fault_dir: Path, hub_endpoint: str) -> Iterator[str]:
    """An exo simulator with its nodes down, for node agents to bring up; Llama 3.2 1B is on
    both nodes' disks already and loads in half a second."""
    with live.running_simulator("exo", fault_dir / "sim", "--stopped", "--load-time", "0.5",
                                "--downloaded", LLAMA_1B, "--hf-endpoint", hub_endpoint) as url:
        yield url
    for pid_file in (fault_dir / "var" / "exo").glob("*.pid"):  # the node agents
        with suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.fixture(scope="module")
def fault_stack(django_db_setup: None, fault_exo: str, hub_endpoint: str, fault_dir: Path,
                redis_server: RedisServer) -> Iterator[live.Stack]:
    env = {"REDIS_URL": redis_server.url, "ARTHUR_VAR_DIR": str(fault_dir / "var"),
           "RATE_STREAMS_PER_USER": str(STREAMS)}
    with live.running_stack(live.stack_database_url(), fault_exo, hub_endpoint,
                            fault_dir / "stack", extra_env=env) as running:
        yield running


@pytest.fixture
def hub_sim(hub_endpoint: str, settings: Any) -> Iterator[httpx.Client]:
    settings.HF_ENDPOINT = hub_endpoint
    control = httpx.Client(base_url=f"{hub_endpoint}/_sim", timeout=10)
    control.delete("/faults")
    yield control
    control.put("/bandwidth", json={"bytes_per_second": None})
    control.close()


@pytest.fixture
def exo_nodes(nodes: dict[str, Node], fault_exo: str, fault_dir: Path) -> dict[str, Node]:
    """ALPHA and BETA started by the simulator's node agents, as in demo mode."""
    configure_demo_nodes(exo_url=fault_exo, var_dir=fault_dir / "var",
                         sim_log_dir=fault_dir / "sim")
    # A start's time without a worker counts Redis's time away, and the workers' and beat's
    # reconnecting after it: seconds each, more on a busy machine.
    Node.objects.filter(in_exo_cluster=True).update(exo_start_timeout=60, exo_stop_grace=5)
    return {node.name: node for node in Node.objects.all()}


def socket(stack: live.Stack, path: str, token: str) -> ClientConnection:
    return connect(f"{stack.ws_url}{path}", additional_headers={
        "Authorization": f"Bearer {token}"}, open_timeout=5)


def frames_until(ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool],
                 timeout: float = 30) -> dict[str, Any]:
    """The first frame `wanted` accepts."""
    while not wanted(frame := json.loads(ws.recv(timeout=timeout))):
        pass
    return frame


def ended(job: dict[str, Any]) -> bool:
    return job["state"] not in ("queued", "running")


def job_end(ws: ClientConnection, snapshot: dict[str, Any], job_id: int) -> dict[str, Any]:
    """The job's final state: in the snapshot already, or from the events after it."""
    jobs = snapshot["jobs"] if "jobs" in snapshot else [snapshot["job"]]
    (job,) = [job for job in jobs if job["id"] == job_id]
    if ended(job):
        return job
    return frames_until(ws, lambda f: f["job"]["id"] == job_id and ended(f["job"]))["job"]


def closed_by_server(ws: ClientConnection) -> int | None:
    """The code the server closed the socket with, once it has (frames before are skipped)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=20)
    return closed.value.rcvd.code if closed.value.rcvd else None


@contextmanager
def reconnected(stack: live.Stack, path: str, token: str
                ) -> Iterator[tuple[ClientConnection, dict[str, Any]]]:
    """The socket opened again, as a client does after losing it, until the panel takes it
    (within 30 s); with its first frame, the current state."""
    deadline = time.monotonic() + 30
    while True:
        with ExitStack() as opened:
            try:
                ws = opened.enter_context(socket(stack, path, token))
                first = json.loads(ws.recv(timeout=10))
            except (OSError, InvalidHandshake, ConnectionClosed):  # Redis is not back yet
                if time.monotonic() > deadline:
                    raise
            else:
                yield ws, first
                return
        time.sleep(0.2)


def unfinished_jobs() -> list[Job]:
    return list(Job.objects.filter(state__in=(Job.State.QUEUED, Job.State.RUNNING)))


def finished(job_id: int, timeout: float = 40) -> Job:
    return wait_until(lambda: (job := Job.objects.get(pk=job_id)).is_finished and job,
                      timeout=timeout)


def test_a_download_goes_on_through_a_redis_restart(fault_stack, redis_server, alice_token,
                                                    nodes, hub_sim, hub_endpoint):
    shutil.rmtree(fault_stack.models_dir, ignore_errors=True)
    model = model_add_from_hub(repo_id=REPO)
    hub_sim.put("/bandwidth", json={"bytes_per_second": 300_000})
    with api(fault_stack, alice_token) as client:
        response = client.post(f"/api/v1/models/{model.slug}/download/", json={"node": "alpha"})
    assert response.status_code == 201, response.text
    (job,) = response.json()["jobs"]
    path = f"/ws/jobs/{job['id']}/"
    with socket(fault_stack, path, alice_token) as ws:
        before = frames_until(ws, lambda f: f["job"]["state"] == "running"
                              and f["job"]["done"] > 100_000)["job"]
        with redis_server.down():
            # The bytes keep coming, counted on the job's row (the database, not Redis).
            during = wait_until(lambda: (done := Job.objects.get(pk=job["id"]).done)
                                > before["done"] + 200_000 and done)
            # Its events come through Redis: the socket is closed, for the client to come back.
            assert closed_by_server(ws) == CLOSE_TRY_AGAIN

    hub_sim.put("/bandwidth", json={"bytes_per_second": None})  # the rest at full speed
    with reconnected(fault_stack, path, alice_token) as (ws, first):
        assert first["type"] == "snapshot" and first["job"]["done"] >= during
        final = job_end(ws, first, job["id"])
    assert final["state"] == "succeeded", final
    assert Job.objects.get(pk=job["id"]).attempts == 1  # never handed to another worker
    folder = fault_stack.models_dir / "alpha" / REPO.replace("/", "--")
    listing = HfApi(endpoint=hub_endpoint).model_info(REPO, files_metadata=True).siblings
    for sibling in listing:
        if sibling.lfs and sibling.rfilename.endswith(".safetensors"):
            digest = hashlib.sha256((folder / sibling.rfilename).read_bytes()).hexdigest()
            assert digest == sibling.lfs.sha256, sibling.rfilename
    # The worker that moved it takes new jobs from the restarted Redis.
    with api(fault_stack, alice_token) as client:
        ping = client.post("/api/v1/jobs/", json={"kind": "ping", "node": "alpha",
                                                  "params": {"count": 1, "interval": 0}})
    assert ping.status_code == 201, ping.text
    assert finished(ping.json()["id"], timeout=20).state == Job.State.SUCCEEDED
    assert not unfinished_jobs()


def test_a_cluster_start_goes_on_through_a_redis_restart(fault_stack, redis_server,
                                                         operator_token, exo_nodes):
    with api(fault_stack, operator_token) as client:
        response = client.post("/api/v1/cluster/start/")
    assert response.status_code == 202, response.text
    cluster_job = response.json()["id"]
    wait_until(lambda: Job.objects.filter(kind="exo.start", node__name="alpha",
                                          state=Job.State.RUNNING).exists())
    with redis_server.down():
        # ALPHA comes up and the cluster job makes BETA's start job, which Redis cannot take:
        # it waits, saying so, and the cluster job waits for it.
        beta = wait_until(lambda: Job.objects.filter(kind="exo.start", node__name="beta",
                                                     message=NOT_SENT).first())
        assert beta.state == Job.State.QUEUED
        assert Job.objects.get(pk=cluster_job).state == Job.State.RUNNING
    restarted = timezone.now()

    with reconnected(fault_stack, "/ws/jobs/", operator_token) as (ws, first):
        assert first["type"] == "snapshot"
        assert {job["id"] for job in first["jobs"]} >= {cluster_job, beta.pk}
        final = job_end(ws, first, cluster_job)
    assert final["state"] == "succeeded", (final["error"], final["log_tail"])
    starts = Job.objects.filter(kind="exo.start").order_by("node__name")
    assert [(job.node.name, job.state, job.attempts) for job in starts] == [
        ("alpha", "succeeded", 1), ("beta", "succeeded", 1)]  # each node's exo started once
    assert not unfinished_jobs()

    # Beat polls again: the dashboard's socket gets a poll made after the restart, with both
    # nodes up.
    with reconnected(fault_stack, "/ws/cluster/", operator_token) as (ws, _):
        frames_until(ws, lambda f: f["type"] == "cluster" and f["cluster"]
                     and datetime.fromisoformat(f["cluster"]["polled_at"]) > restarted
                     and {n["name"]: n["status"] for n in f["cluster"]["nodes"]
                          if n["name"] in ("alpha", "beta")}
                     == {"alpha": "online", "beta": "online"})


class Stream(threading.Thread):
    """A chat stream through the proxy, read to its end or, with `leave`, until told to go."""

    def __init__(self, stack: live.Stack, token: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.token = stack, token
        self.status, self.body, self.error = 0, b"", ""
        self.flowing, self.leave = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream("POST", f"{self.stack.base_url}/v1/chat/completions",
                              headers={"Authorization": f"Bearer {self.token}"}, timeout=30,
                              json={"model": "llama-3.2-1b", "stream": True, "messages": [
                                  {"role": "user", "content": "Tell a story"}]}) as response:
                self.status = response.status_code
                for chunk in response.iter_raw():
                    self.body += chunk
                    self.flowing.set()
                    if self.leave.is_set():
                        break  # closing the connection cancels the answer
        except httpx.HTTPError as exc:
            self.error = repr(exc)


def chat(stack: live.Stack, token: str) -> httpx.Response:
    return httpx.post(f"{stack.base_url}/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {token}"},
                      json={"model": "llama-3.2-1b", "max_tokens": 5,
                            "messages": [{"role": "user", "content": "Hello"}]})


def job_done(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> None:
    """POST `path`, a job, and wait for it to succeed."""
    response = client.post(path, json=body)
    assert response.status_code in (201, 202), response.text
    job = finished(response.json()["id"])
    assert job.state == Job.State.SUCCEEDED, job.error


@pytest.fixture
def llama_streaming(fault_stack, exo_nodes, guide_models, operator_token, fault_exo
                    ) -> Iterator[None]:
    """The cluster up (unless an earlier test left it so) and Llama 3.2 1B loaded, its answers
    ANSWER_TOKENS long at 200 tokens/s (the simulator's pace of 20 times its 10)."""
    state = httpx.get(f"{fault_exo}/state", timeout=10).json()
    names = {node["friendlyName"] for node in state["nodeIdentities"].values()}
    with api(fault_stack, operator_token) as client:
        if names != {"ALPHA", "BETA"}:
            job_done(client, "/api/v1/cluster/start/")
        job_done(client, "/api/v1/instances/", {"model": LLAMA_1B})
    settings = httpx.post(f"{fault_exo}/_sim/settings",
                          json={"answer_tokens": ANSWER_TOKENS, "model_speeds": {LLAMA_1B: 10}})
    settings.raise_for_status()
    yield
    httpx.post(f"{fault_exo}/_sim/settings", json={"answer_tokens": 0}).raise_for_status()


def test_streams_in_flight_end_cleanly_through_a_redis_restart(fault_stack, redis_server,
                                                               operator_token, llama_streaming):
    streams = [Stream(fault_stack, operator_token) for _ in range(STREAMS)]
    for stream in streams:
        stream.start()
    assert all(stream.flowing.wait(timeout=20) for stream in streams)
    leaving, staying = streams[:STREAMS // 2], streams[STREAMS // 2:]
    with redis_server.down():
        for stream in leaving:  # half the clients go away mid-answer, half read to the end
            stream.leave.set()
        for stream in streams:
            stream.join(timeout=30)
        # Meanwhile a new request is refused for now, not failed.
        refused = chat(fault_stack, operator_token)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "redis_unavailable"
        assert refused.headers["Retry-After"] == "5"

    for stream in streams:
        assert not stream.is_alive() and stream.status == 200, stream.error
        assert not stream.error and b'"error"' not in stream.body
    assert all(stream.body.endswith(b"data: [DONE]\n\n") for stream in staying)
    # Every one left its record (in the database, whatever Redis did).
    records = wait_until(lambda: len(found := list(UsageRecord.objects.all())) == STREAMS
                         and found, timeout=10)
    assert sorted(record.status for record in records) == ["cancelled"] * 4 + ["ok"] * 4
    assert all(record.completion_tokens == ANSWER_TOKENS for record in records
               if record.status == "ok")
    # Their stream slots come back and their tokens are counted once Redis is back.
    with api(fault_stack, operator_token) as client:
        def use() -> dict[str, int]:
            (key,) = [key for key in client.get("/api/v1/keys/").json()
                      if key["name"] == "operator tests"]
            return {row["kind"]: row["used"] for row in key["usage"]}

        settled = wait_until(lambda: (now := use())["max_streams"] == 0 and now, timeout=30)
    assert settled["chat_tokens_per_day"] >= 4 * ANSWER_TOKENS
    answer = chat(fault_stack, operator_token)
    assert answer.status_code == 200, answer.text
