"""Pure rules for running exo on the nodes: argument lists and environments, what exo's start
output says (the bootstrap command, the version), and when a node or the cluster counts as up.
No I/O, no clock."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from itertools import combinations
from typing import Any

from cluster_app.exo.state import RDMA, ClusterView, NodeView
from cluster_app.nodes.live import InventoryNode, match_nodes

# What a start command inherits from the worker: enough to find programs and the user's home,
# never the panel's own secrets (database, broker, secret key).
INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE",
                 "TMPDIR", "TZ")
# exo logs no version of its own; a start script can print one: "exo version 1.0.71", "exo v1.0.71".
VERSION_LINE = re.compile(r"(?i)\bexo\b\W{0,3}(?:version\W{0,3})?v?(\d+\.\d+\.\d+[\w.+-]*)")


def expand_home(text: str, home: str) -> str:
    """A leading `~/` (or a lone `~`) becomes the home directory; nothing else changes."""
    if text == "~":
        return home
    return home.rstrip("/") + text[1:] if text.startswith("~/") else text


def expand_argv(argv: Any, home: str) -> list[str]:
    """The argument list to run, with `~/` expanded; ValueError if it is not a non-empty list
    of non-empty strings."""
    if not isinstance(argv, list) or not argv:
        raise ValueError("the start command must be a non-empty list of arguments")
    if not all(isinstance(item, str) and item for item in argv):
        raise ValueError("every argument of the start command must be a non-empty string: "
                         f"{argv!r}")
    return [expand_home(item, home) for item in argv]


def build_env(worker_env: Mapping[str, str], extra: Any, home: str) -> dict[str, str]:
    """The inherited part of the worker's environment plus the node's own settings
    (values turned to strings, `~/` expanded)."""
    if not isinstance(extra, dict):
        raise ValueError(f"the exo environment must be an object of NAME: value, not {extra!r}")
    env = {key: worker_env[key] for key in INHERITED_ENV if key in worker_env}
    for key, value in extra.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise ValueError(f"bad environment variable name {key!r}")
        env[key] = expand_home(value if isinstance(value, str) else str(value), home)
    return env


def capture_bootstrap(pattern: str, line: str) -> str | None:
    """The command the other nodes join with, if this whole output line is the one that prints
    it. The pattern must match the entire line: a bootstrap-like text inside another line (an
    echoed model name in an error, say) is not a start-up line."""
    if not pattern:
        return None
    match = re.fullmatch(pattern, line)
    if match is None or "command" not in match.groupdict():
        return None
    return (match.group("command") or "").strip() or None


def bootstrap_argv(command: str, home: str) -> list[str]:
    """The captured bootstrap command as an argument list (shell quoting undone, no shell)."""
    try:
        return expand_argv(shlex.split(command), home)
    except ValueError as error:
        raise ValueError(f"cannot split the bootstrap command {command!r}: {error}") from None


def allowed_join(argv: list[str], prefixes: Any, home: str) -> bool:
    """Whether `argv` starts with one of the admin's allowed argument-list prefixes (each with
    `~/` expanded); an empty or malformed allow-list allows nothing."""
    if not isinstance(prefixes, list):
        return False
    for prefix in prefixes:
        try:
            expected = expand_argv(prefix, home)
        except ValueError:
            continue
        if argv[:len(expected)] == expected:
            return True
    return False


def parse_version(lines: Iterable[str]) -> str:
    """The exo version named last in the output, or ''."""
    found = ""
    for line in lines:
        for match in VERSION_LINE.finditer(line):
            found = match.group(1)
    return found


def new_lines(seen: list[str], tail: list[str]) -> list[str]:
    """Lines of `tail` after the part it shares with the end of `seen`: a job's bounded log tail
    read again later, minus what was already read."""
    for overlap in range(min(len(seen), len(tail)), 0, -1):
        if seen[-overlap:] == tail[:overlap]:
            return tail[overlap:]
    return list(tail)


def views_of(views: Iterable[NodeView], node: InventoryNode) -> list[NodeView]:
    """Every exo node that is this inventory node: a restarted node is listed under its new id
    while the old one ages out."""
    return [view for view in views if match_nodes([view], [node])]


def fresh_view(views: Iterable[NodeView], node: InventoryNode,
               before: set[str]) -> NodeView | None:
    """The node as exo lists it under an id it did not have before the start (exo makes a new
    id at every start), or None."""
    return next((view for view in views_of(views, node) if view.node_id not in before), None)


def cluster_problems(cluster: ClusterView, inventory: Iterable[InventoryNode]) -> list[str]:
    """What keeps the cluster from counting as up: exo nodes missing from the topology, and
    missing RDMA links between nodes that both expect one. Empty when it is up. Each node is
    judged under the id the poll will show it by (the live one, while a restarted node's old id
    lingers), so a cluster up here is up on the dashboard's next poll too."""
    members = [node for node in inventory if node.in_exo_cluster]
    ids = {name: view.node_id for name, view in match_nodes(cluster.nodes, members).items()}
    problems = [f"{node.display_name} is not in exo's topology" for node in members
                if node.name not in ids]
    linked = {frozenset((link.source, link.sink)) for link in cluster.links if link.kind == RDMA}
    for a, b in combinations([node for node in members if node.expects_rdma], 2):
        if a.name in ids and b.name in ids and frozenset((ids[a.name], ids[b.name])) not in linked:
            problems.append(f"no RDMA link between {a.display_name} and {b.display_name}")
    return problems
