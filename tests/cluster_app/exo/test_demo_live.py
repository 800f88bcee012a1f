"""The panel's main flows on the demo `make run` starts, against exo release 1.0.71 and exo's
main branch: the exo simulator as the demo runs it (its nodes down, brought up by the node
agents; exo's own timings, its 30 s node timeout among them) with `--exo-version`, the hub
simulator with the demo manifest, and one stack of this module's own.

Each version's test walks the flows once, compactly: start the cluster, stop it and start it
again (both nodes online with their RDMA link on the very next poll), the health checks, the
guide's DeepSeek V3 loaded by slug to ready, chat (streaming and not, and Claude Code's own
model names), a download of a model exo has no card for, deleting it, and the action plan.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from arthur_panel.launcher import free_port
from cluster_app.exo.demo import configure_demo_nodes
from cluster_app.models import Node
from tests import stack as live
from tests.cluster_app.exo.test_ops_live import finished
from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
REDIS_DB = 4  # apart from the session stack's and the exo operations'
# The demo is `make run`, on SQLite, and the cluster runs on PostgreSQL: each database runs the
# flows once, against one of exo's shapes (the state's differences are the normaliser's, which
# no database touches), which keeps the two passes even.
VERSIONS = [pytest.param("1.0.71", marks=pytest.mark.sqlite_pass), "main"]
DEEPSEEK = "mlx-community/DeepSeek-V3.1-4bit"
QWEN = "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
def demo_port() -> int:
    """The exo simulator's port: each version's simulator takes it in turn, so one stack
    serves both."""
    return free_port()


@pytest.fixture(scope="module")
def demo_hub(demo_dir: Path) -> Iterator[str]:
    with live.running_simulator("hub", demo_dir / "hub", demo=True) as url:
        yield url


@pytest.fixture(scope="module")
def demo_stack(django_db_setup: None, demo_dir: Path, demo_port: int,
               demo_hub: str) -> Iterator[live.Stack]:
    database = live.stack_database_url()
    with live.separate_stack(database, f"http://127.0.0.1:{demo_port}", demo_hub,
                             demo_dir / "stack", redis_db=REDIS_DB,
                             var_dir=demo_dir / "var") as running:
        yield running


@dataclass(frozen=True)
class DemoExo:
    url: str
    version: str
    log_dir: Path


@pytest.fixture(scope="module", params=VERSIONS)
def demo_exo(request: pytest.FixtureRequest, demo_dir: Path, demo_port: int, demo_hub: str,
             demo_stack: live.Stack) -> Iterator[DemoExo]:
    """The exo simulator as `make run` starts it, speaking one version of exo; it reads the
    stack's models directory, as the demo's reads the panel's."""
    version, sim_dir = request.param, demo_dir / request.param
    with live.running_simulator("exo", sim_dir, "--stopped", "--hf-endpoint", demo_hub,
                                "--models-dir", str(demo_stack.models_dir),
                                "--exo-version", version, demo=True, port=demo_port) as url:
        yield DemoExo(url, version, sim_dir / "exo-sim" / "logs")
    for pid_file in (demo_dir / "var" / "exo").glob("*.pid"):  # agents left by a failed test
        with suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.fixture
def demo_nodes(nodes: dict[str, Node], guide_models: None, demo_exo: DemoExo,
               demo_dir: Path) -> dict[str, Node]:
    configure_demo_nodes(exo_url=demo_exo.url, var_dir=demo_dir / "var",
                         sim_log_dir=demo_exo.log_dir)
    return {node.name: node for node in Node.objects.all()}


def succeeded(client: httpx.Client, path: str, body: dict[str, Any] | None = None,
              timeout: float = 60) -> dict[str, Any]:
    """Start a job, wait for its end; it must have succeeded."""
    response = client.post(path, json=body)
    assert response.status_code in (201, 202), response.text
    queued = response.json()
    job = finished(client, queued["jobs"][0] if "jobs" in queued else queued, timeout=timeout)
    assert job["state"] == "succeeded", job
    return job


def next_poll(client: httpx.Client, after: str) -> dict[str, Any]:
    """The first cluster poll made after `after` (an ISO time)."""
    moment = datetime.fromisoformat(after)
    return wait_until(lambda: datetime.fromisoformat(
        (s := client.get("/api/v1/cluster/").json())["polled_at"]) > moment and s, interval=0.05)


def exo_entry(exo_url: str, node: str, model_id: str) -> str | None:
    """The tag of exo's download entry for the model on the node (exo's live id for it)."""
    state = httpx.get(f"{exo_url}/state", timeout=10).json()
    ids = [i for i, ident in state["nodeIdentities"].items() if ident["friendlyName"] == node]
    node_id = max(ids, key=lambda i: state["lastSeen"][i])
    for entry in state["downloads"].get(node_id, []):
        ((tag, body),) = entry.items()
        (shard,) = body["shardMetadata"].values()
        if shard["modelCard"]["modelId"] == model_id:
            return str(tag)
    return None


def action_plan(stack: live.Stack) -> dict[str, str]:
    """Each step of the action plan (Health page) and its state, read as a logged-in browser."""
    with httpx.Client(base_url=stack.base_url, timeout=10) as browser:
        form = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"',
                         browser.get("/login/").text)
        assert form is not None
        browser.post("/login/", data={"username": "alice", "password": "alice-password-1",
                                      "csrfmiddlewaretoken": form.group(1)})
        page = browser.get("/health/action-plan/").text
    return {step: state for state, step in re.findall(
        r'class="step state-(\w+)" data-step="(\w+)"', page)}


def test_the_panels_main_flows_on_the_demo(demo_stack, demo_exo, demo_nodes, operator_token):
    exo = demo_exo.url
    with api(demo_stack, operator_token) as client:
        # Start, stop and start again: exo's old node ids linger for its 30 s timeout, yet
        # the very next poll after the start shows both nodes online, RDMA-linked.
        succeeded(client, "/api/v1/cluster/start/")
        succeeded(client, "/api/v1/cluster/stop/")
        started = succeeded(client, "/api/v1/cluster/start/")
        state = httpx.get(f"{exo}/state", timeout=10).json()
        assert len(state["nodeIdentities"]) == 4  # the stopped ids are still there
        poll = next_poll(client, started["finished_at"])
        nodes = {n["name"]: n for n in poll["nodes"]}
        assert [(nodes[name]["status"], nodes[name]["status_reason"])
                for name in ("alpha", "beta")] == [("online", ""), ("online", "")]
        assert poll["rdma_linked"] and not poll["unmatched_nodes"]

        health = succeeded(client, "/api/v1/health/")
        assert health["state"] == "succeeded"
        cluster_checks = {c["name"]: c["status"] for group in client.get(
            "/api/v1/health/").json()["groups"] if group["scope"] == "cluster"
            for c in group["checks"]}
        assert cluster_checks["exo_api"] == cluster_checks["cluster_nodes"] == "pass"

        # The guide's DeepSeek V3 by its slug, as the "done when" asks.
        load = succeeded(client, "/api/v1/instances/", {"model": "deepseek-v3-4bit"})
        assert load["result"]["model_id"] == DEEPSEEK and load["message"].startswith("Ready on ")
        assert not any("adding it" in line for line in load["log_tail"])  # exo ships its card

        chat = openai.OpenAI(base_url=f"{demo_stack.base_url}/v1", api_key=operator_token,
                             max_retries=0)
        hello = [{"role": "user", "content": "Hello"}]
        streamed = list(chat.chat.completions.create(model="deepseek-v3-4bit", messages=hello,
                                                     max_tokens=5, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        whole = chat.chat.completions.create(model="deepseek-v3-4bit", messages=hello,
                                             max_completion_tokens=3)
        assert whole.usage.completion_tokens == 3 and whole.model == DEEPSEEK
        # Claude Code's own name goes through the router, which reads the latest poll.
        wait_until(lambda: any(i["model_id"] == DEEPSEEK and i["status"] == "ready"
                               for i in client.get("/api/v1/cluster/").json()["instances"]))
        claude = anthropic.Anthropic(base_url=demo_stack.base_url, api_key=operator_token,
                                     max_retries=0)
        reply = claude.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=5,
                                       messages=hello)
        assert reply.content[0].text and reply.model == DEEPSEEK

        # A model exo ships no card for: the download gives exo its card, then the bytes.
        assert client.get("/api/v1/models/qwen2.5-coder-32b/exo-card/").json()["known"] is False
        download = succeeded(client, "/api/v1/models/qwen2.5-coder-32b/download/",
                             {"node": "alpha"})
        assert download["log_tail"][0] == f"exo has no card for {QWEN}: adding it (POST " \
                                          "/models/add)"
        httpx.post(f"{exo}/_sim/rescan", timeout=10)
        assert exo_entry(exo, "ALPHA", QWEN) == "DownloadCompleted"
        response = client.request("DELETE", "/api/v1/models/qwen2.5-coder-32b/download/",
                                  json={"node": "alpha"})
        deleted = finished(client, response.json())
        assert deleted["state"] == "succeeded" and deleted["result"]["exo_told"] is True
        assert exo_entry(exo, "ALPHA", QWEN) == "DownloadPending"

        assert action_plan(demo_stack) == {"llama": "done", "start": "done", "jaccl": "todo",
                                           "deepseek": "done", "claude": "done"}

        instance = load["result"]["instance_id"]
        assert client.delete(f"/api/v1/instances/{instance}/").status_code == 202
        succeeded(client, "/api/v1/cluster/stop/")
