"""The house rules of the code's layout (README, "Architecture"): no import circles, each folder
imports only what its row allows, `cluster_app` never imports `models_app`, the simulators
import nothing of the panel, and the pure cores import no Django, directly or not."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("arthur_panel", "cluster_app", "models_app", "simulators")
WIRING = {"urls", "api_urls", "routing", "admin", "apps", "models", "management", "templatetags"}

# What each folder may import of the project besides itself (and arthur_panel, the models,
# `access`, `audit` and the metrics' counted families, which every app folder may use). The
# README's architecture table says the same.
BASE = {"arthur_panel", "cluster_app.models", "cluster_app.access", "cluster_app.audit",
        "cluster_app.metrics.families", "cluster_app.metrics.rules"}
ALLOWED = {
    # A chat key's models are named through the one resolver's seam.
    "cluster_app.access": {"arthur_panel", "cluster_app.models", "cluster_app.exo.names",
                           "cluster_app.metrics.families"},
    "cluster_app.audit": {"arthur_panel", "cluster_app.models", "cluster_app.access"},
    # Ending every session closes their sockets the way a revoked credential's close.
    "cluster_app.account": BASE | {"cluster_app.jobs"},
    "cluster_app.jobs": BASE,
    # The poll reads exo through its wire layer only: the client and the /state normaliser.
    "cluster_app.nodes": BASE | {"cluster_app.jobs", "cluster_app.exo.client",
                                 "cluster_app.exo.state"},
    "cluster_app.exo": BASE | {"cluster_app.jobs", "cluster_app.nodes"},
    "cluster_app.health": BASE | {"cluster_app.jobs", "cluster_app.nodes", "cluster_app.exo"},
    "cluster_app.linkbench": BASE | {"cluster_app.jobs", "cluster_app.nodes", "cluster_app.exo"},
    "cluster_app.logs": BASE | {"cluster_app.jobs", "cluster_app.nodes", "cluster_app.exo"},
    # Scrapes read the latest poll's snapshot.
    "cluster_app.metrics": BASE | {"cluster_app.nodes.poll"},
    # The rules read the panel's whole state: the poll's snapshot, workers, health, log lines.
    "cluster_app.alerts": BASE | {"cluster_app.jobs", "cluster_app.nodes", "cluster_app.exo",
                                  "cluster_app.health", "cluster_app.logs"},
    # How this machine runs the panel's processes: nothing of the apps.
    "cluster_app.deploy": {"arthur_panel"},
}
CLUSTER = {"cluster_app"}
MODELS_BASE = BASE | CLUSTER | {"models_app.models", "models_app.catalogue"}
ALLOWED |= {
    # The catalogue's pages say whether each model fits now: they ask the planner.
    "models_app.catalogue": BASE | CLUSTER | {"models_app.models", "models_app.planner"},
    "models_app.planner": MODELS_BASE,
    "models_app.downloads": MODELS_BASE,
    # The cost analysis uses the newest benchmark's measured energy.
    "models_app.usage": MODELS_BASE | {"models_app.bench"},
    "models_app.bench": MODELS_BASE,
    # The Playground opens a saved conversation.
    "models_app.proxy": MODELS_BASE | {"models_app.usage", "models_app.conversations"},
    "models_app.action_plan": MODELS_BASE | {"models_app.downloads", "models_app.usage"},
    "models_app.conversations": MODELS_BASE,
}
# Plain functions over plain data: they must import no framework, directly or not.
PURE = ["cluster_app.exo.state", "cluster_app.exo.rules", "cluster_app.exo.loading",
        "cluster_app.nodes.live", "cluster_app.nodes.units", "cluster_app.jobs.progress",
        "cluster_app.logs.classify",
        "cluster_app.linkbench.core", "cluster_app.health.checks", "models_app.planner.core",
        "models_app.proxy.rules", "models_app.usage.meter", "models_app.usage.costs",
        "models_app.bench.core",
        "models_app.action_plan.steps", "cluster_app.jobs.socket_limits",
        "cluster_app.nodes.gpus", "cluster_app.health.deployment", "cluster_app.deploy.units",
        "cluster_app.audit.redact", "arthur_panel.masking", "cluster_app.access.rules",
        "cluster_app.metrics.rules", "cluster_app.alerts.conditions",
        "cluster_app.alerts.machine", "cluster_app.alerts.payloads", "cluster_app.access.limits",
        "cluster_app.nodes.netrates", "cluster_app.nodes.series",
        "models_app.conversations.tree"]
FRAMEWORKS = ("django", "rest_framework", "channels", "celery", "drf_spectacular")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = modules()


def imported(path: Path) -> Iterator[str]:
    """Project modules imported at module level (not those only named for type checking)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for item in ast.walk(node):
            if isinstance(item, ast.Import):
                yield from (alias.name for alias in item.names)
            elif isinstance(item, ast.ImportFrom) and item.module and not item.level:
                for alias in item.names:
                    full = f"{item.module}.{alias.name}"
                    yield full if full in MODULES else item.module


@cache
def graph() -> dict[str, set[str]]:
    return {name: {m for m in imported(path) if m in MODULES and m != name}
            for name, path in MODULES.items()}


def folder(module: str) -> str:
    """`cluster_app.exo.node_jobs` -> `cluster_app.exo`; app-level modules are their own."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in ("cluster_app", "models_app") else parts[0]


def allows(rules: set[str], target: str) -> bool:
    return any(target == rule or target.startswith(rule + ".") for rule in rules)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            if group:
                found.append([node, *group])

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_imports():
    assert "cluster_app.jobs.services" in graph()["cluster_app.exo.node_jobs"]
    assert "cluster_app.exo.state" in graph()["cluster_app.nodes.live"]


def test_there_are_no_import_circles():
    assert cycles(graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) != []


@pytest.mark.parametrize("source", sorted(m for m in MODULES
                                          if folder(m) in ALLOWED and m.split(".")[-1]
                                          not in WIRING))
def test_each_folder_imports_only_what_it_may(source):
    mine = folder(source)
    wrong = sorted(target for target in graph()[source]
                   if folder(target) != mine and not allows(ALLOWED[mine], target))
    assert wrong == [], f"{source} may not import {wrong}"


def test_every_concept_folder_has_a_rule():
    folders = {folder(m) for m in MODULES if m.startswith(("cluster_app.", "models_app."))
               and m.count(".") >= 2 and folder(m).split(".")[1] not in WIRING}
    assert "cluster_app.exo" in folders
    assert folders - set(ALLOWED) == set()


def test_the_cluster_app_never_imports_the_models_app_and_the_simulators_nothing():
    for source, targets in graph().items():
        if source.startswith("cluster_app"):
            assert not [t for t in targets if t.startswith("models_app")], source
        if source.startswith("simulators"):
            assert not [t for t in targets if not t.startswith("simulators")], source


@pytest.mark.parametrize("module", PURE)
def test_a_pure_core_imports_no_framework(module):
    probe = (f"import sys, {module}; "
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r})))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]", f"{module} pulls in {result.stdout.strip()}"


def test_every_pure_core_is_type_checked_strictly():
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    (strict,) = [override for override in overrides if override.get("disallow_untyped_defs")]
    assert set(PURE) <= set(strict["module"])
