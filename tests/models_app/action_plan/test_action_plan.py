"""The guide's Recommended Action Plan: each step's state from the panel's facts, exactly; and
the section the Health page loads, from real downloads, polls and usage records."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from django.test import Client
from django.urls import Resolver404, resolve

from cluster_app.logs.classify import NodeLines
from cluster_app.logs.ring import ring_push
from cluster_app.models import Job
from cluster_app.nodes.poll import keep_snapshot
from models_app.action_plan.steps import (
    DONE,
    IN_PROGRESS,
    TODO,
    Action,
    ModelDownload,
    PlanFacts,
    download_state,
    plan_steps,
)
from models_app.action_plan.views import plan_facts
from models_app.models import UsageRecord
from tests.cluster_app.conftest import wipe_log_rings
from tests.conftest import grant_operator

LLAMA = ModelDownload("llama-3.2-1b", "Llama 3.2 1B", "1.24 GB", cells={"ALPHA": "absent"},
                      body={"node": "alpha"})
DEEPSEEK = ModelDownload("deepseek-v3-4bit", "DeepSeek V3 4-bit", "378 GB",
                         cells={"ALPHA": "absent", "BETA": "absent"})
NOTHING_YET = PlanFacts(
    llama_1b=LLAMA, deepseek_v3=DEEPSEEK, exo_reachable=False, exo_error="connection refused",
    offline_nodes=["ALPHA", "BETA"], jaccl_ready=[], jaccl_chat_ok=False, jaccl_lines_seen=False,
    messages_requests=0, last_messages_at=None, cluster_start_url=None)
EVERYTHING = replace(
    NOTHING_YET, llama_1b=replace(LLAMA, cells={"ALPHA": "succeeded"}),
    deepseek_v3=replace(DEEPSEEK, cells={"ALPHA": "completed", "BETA": "succeeded"}),
    exo_reachable=True, exo_error=None, offline_nodes=[],
    jaccl_ready=["mlx-community/DeepSeek-V3.1-4bit"], jaccl_chat_ok=True, messages_requests=3,
    last_messages_at="2026-01-02 10:00 UTC")


def states(facts: PlanFacts) -> list[tuple[int, str, str]]:
    return [(step.number, step.key, step.state) for step in plan_steps(facts)]


def test_before_anything_every_step_is_to_do_with_the_action_that_does_it():
    steps = plan_steps(NOTHING_YET)
    assert states(NOTHING_YET) == [(1, "llama", TODO), (2, "start", TODO), (3, "jaccl", TODO),
                                   (4, "deepseek", TODO), (5, "claude", TODO)]
    llama, start, jaccl, deepseek, claude = steps
    assert llama.title == "Download Llama 3.2 1B"
    assert llama.detail == "Not on ALPHA yet (1.24 GB)."
    assert llama.action == Action("Download Llama 3.2 1B", "/api/v1/models/llama-3.2-1b/download/",
                                  "post", {"node": "alpha"})
    assert llama.action.body_json == '{"node": "alpha"}'
    assert start.detail == "exo is not answering: connection refused"
    assert start.action == Action("Open the Cluster page", "/cluster/")  # no start endpoint yet
    assert jaccl.detail == "No model is loaded with Tensor sharding over MlxJaccl (RDMA) yet."
    assert jaccl.action == Action("Load one with Tensor + MlxJaccl", "/cluster/")
    assert deepseek.detail == "Not on ALPHA and BETA yet (378 GB)."
    assert deepseek.action.url == "/api/v1/models/deepseek-v3-4bit/download/"
    assert deepseek.action.body == {}  # a tensor model: the button downloads to every node
    assert claude.detail == "No /v1/messages request has come through the panel yet."
    assert claude.action == Action("Set up Claude Code", "/integrations/#claude-code")


def test_when_everything_is_done():
    steps = plan_steps(EVERYTHING)
    assert [step.state for step in steps] == [DONE] * 5
    assert [step.action for step in steps] == [None] * 5
    assert [step.detail for step in steps] == [
        "Llama 3.2 1B is on ALPHA.",
        "exo answers and every cluster node is online.",
        "mlx-community/DeepSeek-V3.1-4bit runs Tensor over MlxJaccl and a test prompt to it "
        "succeeded.",
        "DeepSeek V3 4-bit is on ALPHA and BETA.",
        "3 request(s) through /v1/messages, the last at 2026-01-02 10:00 UTC.",
    ]


def test_the_start_step_posts_to_the_start_endpoint_once_there_is_one():
    facts = replace(NOTHING_YET, exo_reachable=True, exo_error=None, offline_nodes=["BETA"],
                    cluster_start_url="/api/v1/cluster/start/")
    start = plan_steps(facts)[1]
    assert (start.state, start.detail) == (TODO, "exo answers, but BETA is not online.")
    assert start.action == Action("Start the cluster", "/api/v1/cluster/start/", "post")


def test_jaccl_step_needs_a_ready_tensor_instance_and_a_prompt_or_the_init_lines():
    ready = replace(NOTHING_YET, jaccl_ready=["mlx-community/DeepSeek-V3.1-4bit"])
    step = plan_steps(ready)[2]
    assert (step.state, step.action) == (IN_PROGRESS, Action("Send a test prompt", "/playground/"))
    assert step.detail == ("mlx-community/DeepSeek-V3.1-4bit is ready with Tensor sharding over "
                           "MlxJaccl: send it a test prompt.")
    logged = plan_steps(replace(ready, jaccl_lines_seen=True))[2]
    assert (logged.state, logged.detail) == (DONE, "mlx-community/DeepSeek-V3.1-4bit runs Tensor "
                                                   "over MlxJaccl and the nodes logged JACCL's "
                                                   "distributed initialisation.")
    # A prompt or log lines without a ready Tensor + MlxJaccl instance prove nothing.
    unproven = replace(NOTHING_YET, jaccl_chat_ok=True, jaccl_lines_seen=True)
    assert plan_steps(unproven)[2].state == TODO


@pytest.mark.parametrize(("cells", "progress", "state", "detail"), [
    ({"ALPHA": "running"}, {"ALPHA": 0.25}, IN_PROGRESS, "Downloading: ALPHA 25%."),
    ({"ALPHA": "ongoing"}, {"ALPHA": 0.5}, IN_PROGRESS, "Downloading: ALPHA 50%."),
    ({"ALPHA": "queued"}, {}, IN_PROGRESS, "Downloading: ALPHA 0%."),
    ({"ALPHA": "paused"}, {}, TODO, "Not on ALPHA yet (1.24 GB). Last download: paused on ALPHA."),
    ({"ALPHA": "failed"}, {}, TODO, "Not on ALPHA yet (1.24 GB). Last download: failed on ALPHA."),
    ({"ALPHA": "deleted"}, {}, TODO, "Not on ALPHA yet (1.24 GB)."),
    ({"ALPHA": "cancelled"}, {}, TODO, "Not on ALPHA yet (1.24 GB)."),
    ({}, {}, TODO, "Not on any node yet (1.24 GB)."),
])
def test_download_states(cells, progress, state, detail):
    assert download_state(replace(LLAMA, cells=cells, progress=progress)) == (state, detail)


def test_a_tensor_model_is_done_only_on_every_node():
    half = replace(DEEPSEEK, cells={"ALPHA": "succeeded", "BETA": "running"},
                   progress={"BETA": 0.4})
    assert download_state(half) == (IN_PROGRESS, "Downloading: BETA 40%.")
    missing = replace(DEEPSEEK, cells={"ALPHA": "succeeded", "BETA": "absent"})
    assert download_state(missing) == (TODO, "Not on BETA yet (378 GB).")


def test_a_model_missing_from_the_catalogue_has_no_button():
    gone = ModelDownload("llama-3.2-1b", "llama-3.2-1b", "", in_catalogue=False)
    step = plan_steps(replace(NOTHING_YET, llama_1b=gone))[0]
    assert (step.state, step.action) == (TODO, None)
    assert step.detail == "llama-3.2-1b is not in the catalogue: add it on the Models page."


# --- from what the panel knows ----------------------------------------------------------------

def snapshot(*, reachable=True, statuses=("online", "online"), instances=()):
    nodes = [{"name": n, "display_name": n.upper(), "in_exo_cluster": True, "status": s}
             for n, s in zip(("alpha", "beta"), statuses, strict=True)]
    nodes.append({"name": "gamma", "display_name": "GAMMA", "in_exo_cluster": False,
                  "status": "unmonitored"})
    return {"reachable": reachable, "error": None if reachable else "exo down", "nodes": nodes,
            "instances": list(instances), "downloads": []}


JACCL_DEEPSEEK = {"model_id": "mlx-community/DeepSeek-V3.1-4bit", "sharding": "Tensor",
                  "backend": "MlxJaccl", "status": "ready"}


@pytest.mark.django_db
def test_facts_come_from_downloads_polls_and_usage(nodes, guide_models, alice):
    assert plan_facts().exo_error == "the panel has not polled exo yet"
    Job.objects.create(kind="model.download", node=nodes["alpha"], state=Job.State.SUCCEEDED,
                       params={"model": "llama-3.2-1b",
                               "repo_id": "mlx-community/Llama-3.2-1B-Instruct-4bit"})
    Job.objects.create(kind="model.download", node=nodes["beta"], state=Job.State.RUNNING,
                       progress=0.5, params={"model": "deepseek-v3-4bit",
                                             "repo_id": "mlx-community/DeepSeek-V3.1-4bit"})
    keep_snapshot(snapshot(statuses=("online", "degraded"), instances=[
        JACCL_DEEPSEEK, {**JACCL_DEEPSEEK, "model_id": "other", "sharding": "Pipeline"}]))
    UsageRecord.objects.create(api="chat", requested_model="deepseek-v3-4bit",
                               model_id="mlx-community/DeepSeek-V3.1-4bit", status="ok")
    facts = plan_facts()
    assert facts.llama_1b.cells == {"ALPHA": "succeeded"}
    assert facts.llama_1b.body == {"node": "alpha"}
    assert facts.deepseek_v3.cells == {"ALPHA": "absent", "BETA": "running"}
    assert facts.deepseek_v3.progress == {"ALPHA": 0.0, "BETA": 0.5}
    assert (facts.exo_reachable, facts.offline_nodes) == (True, ["BETA"])
    assert (facts.jaccl_ready, facts.jaccl_chat_ok) == (["mlx-community/DeepSeek-V3.1-4bit"], True)
    assert (facts.messages_requests, facts.last_messages_at) == (0, None)
    UsageRecord.objects.create(api="messages", requested_model="deepseek-v3-4bit",
                               model_id="mlx-community/DeepSeek-V3.1-4bit", status="ok")
    assert plan_facts().messages_requests == 1
    try:
        resolve("/api/v1/cluster/start/")
        expected = "/api/v1/cluster/start/"
    except Resolver404:
        expected = None
    assert facts.cluster_start_url == expected
    assert states(facts) == [(1, "llama", DONE), (2, "start", TODO), (3, "jaccl", DONE),
                             (4, "deepseek", IN_PROGRESS), (5, "claude", TODO)]


@pytest.mark.django_db
def test_the_section_the_health_page_loads(client, alice, nodes, guide_models):
    client.force_login(alice)
    keep_snapshot(snapshot())
    html = client.get("/health/action-plan/").content.decode()
    assert "Recommended Action Plan" in html and "1 of 5 done" in html
    assert 'data-post="/api/v1/models/llama-3.2-1b/download/"' in html
    assert f'data-body="{json.dumps({"node": "alpha"}).replace(chr(34), "&quot;")}"' in html
    assert 'href="/integrations/#claude-code"' in html


@pytest.mark.django_db
def test_jaccl_lines_count_once_initialisation_completed(nodes, guide_models):
    keep_snapshot(snapshot(instances=[JACCL_DEEPSEEK]))
    describe = NodeLines().describe

    def logged(text: str) -> None:
        record = {"node": "alpha", "file": "exo.log", "seq": 0, "ts": 0.0, **describe(text)}
        ring_push("alpha", [record], keep=100, positions={})

    wipe_log_rings()
    try:
        logged("rank 0 MLX_JACCL_COORDINATOR: 0.0.0.0:53211")  # still connecting
        assert plan_facts().jaccl_lines_seen is False
        logged("Rank 0 mlx distributed initialization complete")
        assert plan_facts().jaccl_lines_seen is True
    finally:
        wipe_log_rings()


@pytest.mark.django_db
@pytest.mark.parametrize("make_operator, action", [
    (True, 'data-post="/api/v1/cluster/start/"'), (False, 'href="/cluster/"')])
def test_only_an_operator_gets_the_start_button_in_the_plan(nodes, guide_models, alice,
                                                            make_operator, action):
    user = grant_operator(alice) if make_operator else alice
    client = Client()
    client.force_login(user)
    page = client.get("/health/action-plan/").content.decode()
    start = page[page.index('data-step="start"'):]
    start = start[:start.index("</li>")]
    assert action in start
