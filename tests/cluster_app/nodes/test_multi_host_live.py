"""The cluster's layout on one machine: the master (web, beat) with ALPHA's workers, and BETA's
workers as a second "host", each host with its own HOME, var dir, models directory and
WORKER_NODES, all on PostgreSQL and the password-protected Redis, as on the real cluster.

A node's work runs on its own host: a download to BETA lands in BETA's models directory, exo
starts under BETA's control worker and home. When BETA's workers die, the panel says so within
seconds, and BETA's jobs wait in BETA's queue until its workers are back."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis
from django.conf import settings
from huggingface_hub import HfApi
from kombu import Connection

from arthur_panel.celery import app as celery_app
from cluster_app.jobs.services import RUN_TASK, job_create
from cluster_app.models import Job, Node
from models_app.catalogue.services import model_add_from_hub
from tests import stack as live
from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
# Apart from the other stacks' brokers (0, 1, 3).
REDIS_DB = 5
ACL_USER = "arthur-cluster"
REPO = "sim-org/tiny-4bit"
# Seconds without a heartbeat before a worker counts as gone (a beat each second).
OFFLINE_SECONDS = 3


@dataclass
class Host:
    """One machine of the cluster: its directories and, for BETA, its two workers."""

    name: str
    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, "WORKER_NODES": self.name, "HOME": str(self.home),
                "ARTHUR_VAR_DIR": str(self.var), "MODELS_DIR": str(self.models)}


@dataclass
class Cluster:
    stack: live.Stack
    exo_url: str
    alpha: Host
    beta: Host

    def start_beta(self, run: int) -> None:
        """BETA's bulk and control workers, on BETA's queues only, as BETA runs them."""
        env, logs = self.beta.env(self.stack.env), self.beta.root / "logs"
        commands = {"bulk": live.worker_command("node.beta", name="bulk-beta@%h"),
                    "control": live.control_worker_command("node.beta.control",
                                                           name="control-beta@%h")}
        self.beta.processes = [live.start(command, env, logs / f"{lane}-{run}.log")
                               for lane, command in commands.items()]
        for lane in commands:
            live.wait_for_worker(env, logs / f"{lane}-{run}.log")

    def kill_beta(self) -> None:
        """SIGKILL to BETA's workers, their pool processes too: nothing gets to say goodbye."""
        for process in self.beta.processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_beta(self) -> None:
        for process in self.beta.processes:
            live.stop(process)


@pytest.fixture(scope="module")
def cluster(django_db_setup: None, hub_endpoint: str, tmp_path_factory: Any) -> Iterator[Cluster]:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the cluster runs on PostgreSQL: the suite's PostgreSQL pass runs this")
    live.require_private_redis()
    root = tmp_path_factory.mktemp("multi-host")
    admin = redis.Redis.from_url(os.environ["REDIS_URL"].rsplit("/", 1)[0] + f"/{REDIS_DB}")
    admin.flushdb()
    # The cluster logs in as the README's ACL user: its three key spaces and nothing else.
    password = secrets.token_urlsafe(24)
    admin.acl_setuser(ACL_USER, enabled=True, reset=True, passwords=[f"+{password}"],
                      keys=["celery:*", "channels:*", "arthur:*"], channels=["*"],
                      categories=["+@all"])
    port = admin.connection_pool.connection_kwargs["port"]
    broker = f"redis://{ACL_USER}:{password}@127.0.0.1:{port}/{REDIS_DB}"
    alpha, beta = Host("alpha", root / "alpha"), Host("beta", root / "beta")
    for host in (alpha, beta):
        host.home.mkdir(parents=True)
    (beta.root / "logs").mkdir()
    with live.running_simulator("exo", root / "sim", "--stopped",
                                "--hf-endpoint", hub_endpoint) as exo_url:
        # The master runs web and beat beside ALPHA's workers, with ALPHA's settings.
        master_env = alpha.env({"REDIS_URL": broker,
                                "WORKER_OFFLINE_SECONDS": str(OFFLINE_SECONDS)})
        with live.running_stack(live.database_url(settings.DATABASES["default"]), exo_url,
                                hub_endpoint, root / "alpha" / "logs",
                                extra_env=master_env) as stack:
            running = Cluster(stack, exo_url, alpha, beta)
            running.start_beta(run=1)
            try:
                yield running
            finally:
                running.stop_beta()
                _kill_agent(beta.home / ".exo" / "exo.pid")
    admin.acl_deluser(ACL_USER)


def _kill_agent(pid_file: Path) -> None:
    with suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def finished(client: httpx.Client, job_id: int, timeout: float = 40) -> dict[str, Any]:
    return wait_until(lambda: (j := client.get(f"/api/v1/jobs/{job_id}/").json())["state"]
                      in ("succeeded", "failed", "cancelled") and j, timeout=timeout)


def worker(client: httpx.Client, node: str) -> dict[str, Any]:
    return client.get(f"/api/v1/nodes/{node}/").json()["worker"]


def snapshot_worker(client: httpx.Client, node: str) -> dict[str, Any]:
    """The node's worker as the dashboard shows it: the poll's snapshot."""
    (row,) = [n for n in client.get("/api/v1/cluster/").json()["nodes"] if n["name"] == node]
    return row["worker"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_download_to_beta_lands_and_is_verified_in_betas_models_directory_only(
        cluster, nodes, hub, alice_token):
    model = model_add_from_hub(repo_id=REPO)
    with api(cluster.stack, alice_token) as client:
        response = client.post(f"/api/v1/models/{model.slug}/download/", json={"node": "beta"})
        assert response.status_code == 201, response.text
        (job,) = response.json()["jobs"]
        final = finished(client, job["id"])
    assert final["state"] == "succeeded", (final["error"], final["message"])
    folder = cluster.beta.models / "beta" / REPO.replace("/", "--")
    assert final["result"]["path"] == str(folder)
    siblings = {s.rfilename: s for s in HfApi(endpoint=hub).model_info(
        REPO, files_metadata=True).siblings}
    fetched = final["detail"]["files"]
    assert {n for n in siblings if n.endswith(".safetensors")} <= set(fetched)
    for name in fetched:
        sibling = siblings[name]
        if sibling.lfs:
            assert sha256(folder / name) == sibling.lfs.sha256, name
        else:
            assert (folder / name).stat().st_size == sibling.size, name
    # Nothing on ALPHA's disk, nor the master's: the bytes went to BETA's worker only.
    assert not cluster.alpha.models.exists() or not any(cluster.alpha.models.rglob("*"))


def test_exo_starts_on_beta_under_betas_control_worker_and_home(cluster, nodes, operator_token):
    Node.objects.filter(name="beta").update(
        exo_start_command=[sys.executable, "-m", "simulators.exo.node", "--api",
                           cluster.exo_url, "--name", "BETA"],
        exo_join_with_bootstrap=False, exo_start_timeout=20, exo_stop_grace=5)
    pid_file = cluster.beta.home / ".exo" / "exo.pid"  # the default ~/.exo/exo.pid, on BETA
    try:
        with api(cluster.stack, operator_token) as client:
            response = client.post("/api/v1/nodes/beta/start/")
            assert response.status_code == 202, response.text
            job = finished(client, response.json()["id"])
            assert job["state"] == "succeeded", job
            agent = psutil.Process(int(pid_file.read_text()))
            assert client.get("/api/v1/nodes/beta/").json()["exo_process"]["pid"] == agent.pid
        bulk, control = cluster.beta.processes
        assert agent.ppid() == control.pid  # BETA's control worker ran the start command
        assert agent.environ()["HOME"] == str(cluster.beta.home)
        assert "simulators.exo.node" in agent.cmdline()
        assert not (cluster.alpha.home / ".exo").exists()
        # Its output went to BETA's own var dir, as /tmp/exo-beta.log on the real BETA.
        assert "exo version 1.0.71" in (cluster.beta.var / "exo" / "beta.log").read_text()
    finally:
        _kill_agent(pid_file)


def test_the_broker_refuses_a_client_without_the_password_and_workers_refuse_pickle(
        cluster, nodes):
    url = cluster.stack.env["REDIS_URL"]
    address = httpx.URL(url)
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=address.host, port=address.port, db=REDIS_DB).ping()
    job, _ = job_create(kind="ping", node=nodes["alpha"], params={"count": 1}, enqueue=False)
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    with Connection(url, transport_options=options) as connection:
        # A pickled message would run code of the sender's choosing: ALPHA's worker drops it.
        celery_app.send_task(RUN_TASK, args=[job.pk], queue="node.alpha", serializer="pickle",
                             connection=connection)
        log = cluster.stack.log_dir / "worker.log"
        wait_until(lambda: b"Refusing to deserialize untrusted content of type pickle"
                   in log.read_bytes())
        assert Job.objects.get(pk=job.pk).state == Job.State.QUEUED
        celery_app.send_task(RUN_TASK, args=[job.pk], queue="node.alpha", connection=connection)
        wait_until(lambda: Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED)


def test_betas_jobs_wait_for_its_worker_and_run_when_it_is_back(cluster, nodes, alice_token):
    ping = {"kind": "ping", "params": {"count": 1, "interval": 0}}
    with api(cluster.stack, alice_token) as client:
        assert wait_until(lambda: worker(client, "beta")["online"])
        cluster.kill_beta()
        # Both lanes gone (one lane's last beat may be a second younger than the other's).
        offline = wait_until(lambda: (w := worker(client, "beta")) and not (
            w["bulk"]["online"] or w["control"]["online"]) and w, timeout=30)
        assert offline["bulk"]["pid"] == cluster.beta.processes[0].pid
        wait_until(lambda: not snapshot_worker(client, "beta")["online"], timeout=30)
        assert worker(client, "alpha")["online"]

        waiting = client.post("/api/v1/jobs/", json={**ping, "node": "beta"}).json()
        assert waiting["state"] == "queued", waiting
        assert "waiting for beta's worker" in waiting["message"].lower()
        # ALPHA's workers go on working (a later job of ALPHA's runs), BETA's job stays queued
        # in BETA's own queue: neither lost nor run elsewhere.
        other = client.post("/api/v1/jobs/", json={**ping, "node": "alpha"}).json()
        assert finished(client, other["id"])["state"] == "succeeded"
        assert client.get(f"/api/v1/jobs/{waiting['id']}/").json()["state"] == "queued"
        broker = redis.Redis.from_url(cluster.stack.env["REDIS_URL"])
        assert broker.llen("celery:node.beta") == 1

        cluster.start_beta(run=2)
        done = finished(client, waiting["id"])
        assert done["state"] == "succeeded", done
        bulk = cluster.beta.processes[0]
        assert psutil.Process(done["result"]["worker_pid"]).ppid() == bulk.pid
        assert Job.objects.get(pk=waiting["id"]).attempts == 1
        assert worker(client, "beta")["online"]
