"""The cluster guide's Recommended Action Plan as a checklist: each step's state from what the
panel knows, and the action that does it. Pure: facts in, steps out."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DONE, IN_PROGRESS, TODO = "done", "in_progress", "todo"
LLAMA_1B, DEEPSEEK_V3 = "llama-3.2-1b", "deepseek-v3-4bit"

# Download matrix cell states (the panel's jobs and exo's own entries) in plan terms.
_CELL = {"succeeded": DONE, "completed": DONE, "queued": IN_PROGRESS, "running": IN_PROGRESS,
         "ongoing": IN_PROGRESS, "paused": "paused", "failed": "failed"}


@dataclass(frozen=True)
class ModelDownload:
    """One model's copies on the nodes that need it (node label -> matrix cell state)."""

    slug: str
    display_name: str
    size: str  # as the guide writes it, "1.24 GB"
    in_catalogue: bool = True
    cells: dict[str, str] = field(default_factory=dict)
    progress: dict[str, float] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)  # the download request for these nodes


@dataclass(frozen=True)
class PlanFacts:
    llama_1b: ModelDownload
    deepseek_v3: ModelDownload
    exo_reachable: bool
    exo_error: str | None
    offline_nodes: list[str]  # in-cluster nodes exo does not show online
    jaccl_ready: list[str]  # model ids of ready Tensor + MlxJaccl instances
    jaccl_chat_ok: bool  # a chat request to one of them succeeded
    jaccl_lines_seen: bool  # "mlx distributed initialization complete" in a node's log
    messages_requests: int  # /v1/messages requests recorded (Claude Code)
    last_messages_at: str | None
    cluster_start_url: str | None  # the start endpoint; None: the step links to the Cluster page
    cluster_page_url: str = "/cluster/"
    playground_url: str = "/playground/"
    integrations_url: str = "/integrations/#claude-code"


@dataclass(frozen=True)
class Action:
    label: str
    url: str
    method: str = "get"  # get: a link; post: a button posting `body` as JSON
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def body_json(self) -> str:
        return json.dumps(self.body)


@dataclass(frozen=True)
class Step:
    number: int
    key: str
    title: str
    state: str
    detail: str
    action: Action | None = None


def download_state(download: ModelDownload) -> tuple[str, str]:
    """(state, detail) of a model's copies on the nodes that need them: done when every one
    is complete."""
    if not download.in_catalogue:
        return TODO, f"{download.slug} is not in the catalogue: add it on the Models page."
    states = {node: _CELL.get(cell, "absent") for node, cell in download.cells.items()}
    if states and all(state == DONE for state in states.values()):
        return DONE, f"{download.display_name} is on {_names(states)}."
    moving = {node: state for node, state in states.items() if state == IN_PROGRESS}
    if moving:
        shown = ", ".join(f"{node} {download.progress.get(node, 0.0):.0%}" for node in moving)
        return IN_PROGRESS, f"Downloading: {shown}."
    stuck = [f"{state} on {node}" for node, state in states.items()
             if state in ("paused", "failed")]
    missing = [node for node, state in states.items() if state != DONE]
    detail = f"Not on {_names(missing) or 'any node'} yet ({download.size})."
    return TODO, detail + (f" Last download: {', '.join(stuck)}." if stuck else "")


def _names(nodes: Iterable[str]) -> str:
    return " and ".join(nodes)


def _download_step(number: int, key: str, download: ModelDownload) -> Step:
    state, detail = download_state(download)
    action = None
    if state != DONE and download.in_catalogue:
        action = Action(f"Download {download.display_name}",
                        f"/api/v1/models/{download.slug}/download/", "post", download.body)
    return Step(number, key, f"Download {download.display_name}", state, detail, action)


def _start_step(facts: PlanFacts) -> Step:
    title = "Start the cluster"
    if facts.exo_reachable and not facts.offline_nodes:
        return Step(2, "start", title, DONE, "exo answers and every cluster node is online.")
    if not facts.exo_reachable:
        detail = "exo is not answering" + (f": {facts.exo_error}" if facts.exo_error else ".")
    else:
        verb = "is" if len(facts.offline_nodes) == 1 else "are"
        detail = f"exo answers, but {_names(facts.offline_nodes)} {verb} not online."
    action = (Action("Start the cluster", facts.cluster_start_url, "post")
              if facts.cluster_start_url
              else Action("Open the Cluster page", facts.cluster_page_url))
    return Step(2, "start", title, TODO, detail, action)


def _jaccl_step(facts: PlanFacts) -> Step:
    title = "Verify JACCL tensor parallelism with a test prompt"
    if facts.jaccl_ready and (facts.jaccl_chat_ok or facts.jaccl_lines_seen):
        proof = ("a test prompt to it succeeded" if facts.jaccl_chat_ok
                 else "the nodes logged JACCL's distributed initialisation")
        return Step(3, "jaccl", title, DONE, f"{facts.jaccl_ready[0]} runs Tensor over MlxJaccl "
                                             f"and {proof}.")
    if facts.jaccl_ready:
        return Step(3, "jaccl", title, IN_PROGRESS,
                    f"{facts.jaccl_ready[0]} is ready with Tensor sharding over MlxJaccl: send it "
                    "a test prompt.", Action("Send a test prompt", facts.playground_url))
    return Step(3, "jaccl", title, TODO,
                "No model is loaded with Tensor sharding over MlxJaccl (RDMA) yet.",
                Action("Load one with Tensor + MlxJaccl", facts.cluster_page_url))


def _claude_step(facts: PlanFacts) -> Step:
    title = "Connect Claude Code"
    if facts.messages_requests:
        return Step(5, "claude", title, DONE,
                    f"{facts.messages_requests} request(s) through /v1/messages, the last at "
                    f"{facts.last_messages_at}.")
    return Step(5, "claude", title, TODO, "No /v1/messages request has come through the panel yet.",
                Action("Set up Claude Code", facts.integrations_url))


def plan_steps(facts: PlanFacts) -> list[Step]:
    """The guide's five steps, in its order."""
    return [
        _download_step(1, "llama", facts.llama_1b),
        _start_step(facts),
        _jaccl_step(facts),
        _download_step(4, "deepseek", facts.deepseek_v3),
        _claude_step(facts),
    ]
