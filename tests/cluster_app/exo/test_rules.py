"""Pure rules for running exo: argument lists, environments, what the start output says, and
when a node or the cluster counts as up."""

from __future__ import annotations

import pytest

from cluster_app.exo.rules import (
    allowed_join,
    bootstrap_argv,
    build_env,
    capture_bootstrap,
    cluster_problems,
    expand_argv,
    fresh_view,
    new_lines,
    parse_version,
)
from cluster_app.exo.state import ClusterView, LinkView, NodeView
from cluster_app.models import Node
from cluster_app.nodes.live import InventoryNode

HOME = "/Users/arthur"
PATTERN = Node._meta.get_field("exo_bootstrap_pattern").default
ALPHA = InventoryNode("alpha", "ALPHA", "alpha.local", True, True)
BETA = InventoryNode("beta", "BETA", "beta.local", True, True)
GAMMA = InventoryNode("gamma", "GAMMA", "gamma.local", False, False)


def test_argv_expands_a_leading_home_only():
    argv = ["~/start-exo-cluster.sh", "--log", "~/x", "a~/b", "~user/c", "~"]
    assert expand_argv(argv, HOME) == ["/Users/arthur/start-exo-cluster.sh", "--log",
                                       "/Users/arthur/x", "a~/b", "~user/c", "/Users/arthur"]


@pytest.mark.parametrize("argv", [[], "~/start.sh", None, ["ok", ""], ["ok", 3], {"a": 1}])
def test_argv_must_be_a_list_of_non_empty_strings(argv):
    with pytest.raises(ValueError, match="start command"):
        expand_argv(argv, HOME)


def test_env_keeps_what_programs_need_and_leaves_the_panels_secrets_out():
    worker = {"PATH": "/usr/bin", "HOME": HOME, "LANG": "en_GB.UTF-8", "DJANGO_SECRET_KEY": "s",
              "DATABASE_URL": "postgres://u:p@db/arthur", "REDIS_URL": "redis://x", "HF_TOKEN": "t"}
    env = build_env(worker, {"EXO_DEFAULT_MODELS_DIR": "~/models", "EXO_OFFLINE": True,
                             "PATH": "/opt/exo/bin:/usr/bin"}, HOME)
    assert env == {"PATH": "/opt/exo/bin:/usr/bin", "HOME": HOME, "LANG": "en_GB.UTF-8",
                   "EXO_DEFAULT_MODELS_DIR": "/Users/arthur/models", "EXO_OFFLINE": "True"}


@pytest.mark.parametrize("extra", [["A=1"], "A=1", {"": "x"}, {"A=B": "x"}, {"A\0": "x"}])
def test_env_rejects_what_is_not_a_name_to_value_object(extra):
    with pytest.raises(ValueError):
        build_env({}, extra, HOME)


def test_the_default_pattern_captures_the_masters_bootstrap_line():
    line = ("[ 2026-06-22 15:38:54.101 | INFO     | exo.main:main_inner:339 ] Bootstrap command: "
            "'/opt/my python/bin/python' -m simulators.exo.node "
            "--api http://127.0.0.1:52415 --join")
    command = capture_bootstrap(PATTERN, line)
    assert command == ("'/opt/my python/bin/python' -m simulators.exo.node "
                       "--api http://127.0.0.1:52415 --join")
    assert bootstrap_argv(command, HOME) == ["/opt/my python/bin/python", "-m",
                                             "simulators.exo.node", "--api",
                                             "http://127.0.0.1:52415", "--join"]
    shouted = "BOOTSTRAP COMMAND:   ~/join.sh 10.0.0.1 "
    assert capture_bootstrap(PATTERN, shouted) == "~/join.sh 10.0.0.1"
    assert bootstrap_argv("~/join.sh 10.0.0.1", HOME) == ["/Users/arthur/join.sh", "10.0.0.1"]


@pytest.mark.parametrize("pattern, line", [
    (PATTERN, "Starting EXO"),
    (PATTERN, "Bootstrap command:   "),
    # Inside another line: an echoed model name in one of exo's error lines.
    (PATTERN, "[ 2026-06-22 15:38:54.101 | ERROR    | exo.master.api:chat_completions:1318 ] "
              "Model not found: Bootstrap command: /bin/sh -c 'touch /tmp/x'"),
    (PATTERN, "[ 2026-06-22 15:38:54.101 | ERROR    | exo.main:main_inner:339 ] "
              "Bootstrap command: /bin/sh -c 'touch /tmp/x'"),
    (PATTERN, "echo Bootstrap command: /bin/sh -c 'touch /tmp/x'"),
    ("", "Bootstrap command: exo"),
    (r"join with (?P<cmd>.+)", "join with exo"),  # no group named `command`
])
def test_no_bootstrap_command_is_captured_from_other_lines(pattern, line):
    assert capture_bootstrap(pattern, line) is None


@pytest.mark.parametrize("argv, allowed", [
    (["/opt/homebrew/bin/exo", "--join", "x"], True),
    (["/opt/homebrew/bin/exo"], True),
    (["/Users/arthur/exo/bin/exo", "--join"], True),  # "~/exo/bin/exo" expanded
    (["/bin/sh", "-c", "/opt/homebrew/bin/exo"], False),
    (["/opt/homebrew/bin/exo-evil"], False),
    (["python", "-c", "print(1)"], False),
    (["python", "-m", "simulators.exo.node", "--join"], True),
    (["python", "-m"], False),
])
def test_a_bootstrap_command_runs_only_if_it_starts_with_an_allowed_prefix(argv, allowed):
    prefixes = [["/opt/homebrew/bin/exo"], ["~/exo/bin/exo"],
                ["python", "-m", "simulators.exo.node"]]
    assert allowed_join(argv, prefixes, HOME) is allowed


@pytest.mark.parametrize("prefixes", [[], None, "exo", [[]], [""], [["", "x"]], {"exo": 1}])
def test_an_empty_or_malformed_allow_list_allows_nothing(prefixes):
    assert allowed_join(["exo", "--join"], prefixes, HOME) is False


def test_an_unbalanced_quote_in_the_bootstrap_command_is_an_error():
    with pytest.raises(ValueError, match="cannot split the bootstrap command"):
        bootstrap_argv("exo --name 'BETA", HOME)


def test_the_version_is_the_last_one_the_output_names():
    lines = ["[ 2026-06-22 15:38:54.101 | INFO     | exo.main:main_inner:339 ] pid = 41233",
             "exo version 1.0.70",
             "[ ... | exo.main:main_inner:339 ] exo v1.0.71-rc1 (simulated ALPHA)",
             "loading model from /Users/a/.exo/models/x with tensor parallelism"]
    assert parse_version(lines) == "1.0.71-rc1"
    assert parse_version(["EXO 1.0.64"]) == "1.0.64"
    assert parse_version(["Starting EXO", "exo.main:main_inner:339 ] pid = 1"]) == ""


def test_new_lines_are_those_after_the_overlap_with_what_was_read():
    assert new_lines([], ["a", "b"]) == ["a", "b"]
    assert new_lines(["a", "b"], ["a", "b", "c"]) == ["c"]
    assert new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]  # the tail moved on
    assert new_lines(["a", "b"], ["a", "b"]) == []
    assert new_lines(["x"], ["y", "z"]) == ["y", "z"]


def view(node_id: str, name: str) -> NodeView:
    return NodeView(node_id=node_id, friendly_name=name)


def test_a_node_is_up_only_under_an_id_it_did_not_have_before_the_start():
    stale = [view("old-a", "ALPHA"), view("b1", "beta.local")]
    assert fresh_view(stale, ALPHA, before={"old-a"}) is None
    fresh = fresh_view([*stale, view("new-a", "ALPHA")], ALPHA, before={"old-a"})
    assert fresh is not None and fresh.node_id == "new-a"
    assert fresh_view(stale, BETA, before=set()).node_id == "b1"


def cluster(nodes: list[NodeView], links: list[LinkView]) -> ClusterView:
    return ClusterView("current", nodes, links, [], [])


def test_the_cluster_is_up_with_every_exo_node_and_the_rdma_link():
    nodes = [view("a", "ALPHA"), view("b", "BETA")]
    rdma = LinkView("a", "b", "rdma", "rdma_en3", "rdma_en4")
    assert cluster_problems(cluster(nodes, [LinkView("a", "b", "tcp"), rdma]),
                            [ALPHA, BETA, GAMMA]) == []


def test_what_keeps_the_cluster_down_is_named():
    alpha_only = cluster([view("a", "ALPHA")], [])
    assert cluster_problems(alpha_only, [ALPHA, BETA, GAMMA]) == ["BETA is not in exo's topology"]
    tcp_only = cluster([view("a", "ALPHA"), view("b", "BETA")], [LinkView("b", "a", "tcp")])
    assert cluster_problems(tcp_only, [ALPHA, BETA]) == ["no RDMA link between ALPHA and BETA"]
    no_rdma_expected = InventoryNode("beta", "BETA", "beta.local", True, False)
    assert cluster_problems(tcp_only, [ALPHA, no_rdma_expected]) == []


def test_a_stale_entry_of_a_restarted_node_does_not_hide_its_new_link():
    nodes = [view("a", "ALPHA"), view("old-b", "BETA"), view("b", "BETA")]
    linked = cluster(nodes, [LinkView("b", "a", "rdma", "rdma_en4", "rdma_en3")])
    assert cluster_problems(linked, [ALPHA, BETA]) == []


def test_the_cluster_is_judged_by_the_live_ids_not_a_lingering_old_pair():
    """After a restart, the old ids linger with the link they had; until the new ids are
    linked the cluster is not up, as the poll (which shows the new ids) would say."""
    nodes = [NodeView("old-a", "ALPHA", last_seen="2026-01-02T10:00:00Z"),
             NodeView("old-b", "BETA", last_seen="2026-01-02T10:00:00Z"),
             NodeView("a", "ALPHA", last_seen="2026-01-02T10:00:20Z"),
             NodeView("b", "BETA", last_seen="2026-01-02T10:00:20Z")]
    old_link = LinkView("old-a", "old-b", "rdma", "rdma_en3", "rdma_en4")
    assert cluster_problems(cluster(nodes, [old_link]), [ALPHA, BETA]) == [
        "no RDMA link between ALPHA and BETA"]
    new_link = LinkView("b", "a", "rdma", "rdma_en4", "rdma_en3")
    assert cluster_problems(cluster(nodes, [old_link, new_link]), [ALPHA, BETA]) == []
