"""Pure rules of the live inventory: matching, status, history buckets, totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cluster_app.exo.state import ClusterView, InstanceView, LinkView, NodeView, RunnerView
from cluster_app.nodes.live import (
    InventoryNode,
    NodeStatus,
    bucket_start,
    match_nodes,
    node_status,
    seen_at,
    unknown_nodes,
    utilisation,
)

GIB = 1024**3
NOW = datetime(2026, 1, 2, 10, 0, 0, tzinfo=UTC)
ALPHA = InventoryNode("alpha", "ALPHA", "alpha.local", True, True)
BETA = InventoryNode("beta", "BETA", "beta.local", True, True)
GAMMA = InventoryNode("gamma", "GAMMA", "gamma.local", False, False)
OFFLINE_AFTER = timedelta(seconds=30)


def node(node_id: str, name: str, *, used: int = 100, rdma: bool | None = True) -> NodeView:
    return NodeView(node_id=node_id, friendly_name=name, ram_total=512 * GIB,
                    ram_available=(512 - used) * GIB, rdma_enabled=rdma)


def cluster(*nodes: NodeView, rdma: bool = True, instances=()) -> ClusterView:
    links = [LinkView("a", "b", "tcp"),
             *([LinkView("a", "b", "rdma", "rdma_en3", "rdma_en4")] if rdma else [])]
    return ClusterView("current", list(nodes), links, list(instances), [])


def status(inventory, view, view_cluster, last_seen=NOW):
    return node_status(inventory, view, view_cluster, last_seen=last_seen, now=NOW,
                       offline_after=OFFLINE_AFTER)


def test_nodes_match_by_friendly_or_host_name_not_id():
    views = [node("x1", "ALPHA"), node("x2", "beta.local"), node("x3", "Somebody's MacBook")]
    matched = match_nodes(views, [ALPHA, BETA, GAMMA])
    assert {name: v.node_id for name, v in matched.items()} == {"alpha": "x1", "beta": "x2"}


def test_a_new_exo_id_still_matches_the_same_node():
    first = match_nodes([node("old-id", "ALPHA")], [ALPHA])
    second = match_nodes([node("new-id", "alpha")], [ALPHA])
    assert first["alpha"].node_id == "old-id" and second["alpha"].node_id == "new-id"


def test_a_restarted_node_is_its_live_id_while_the_old_one_lingers():
    old = NodeView("old", "ALPHA", last_seen="2026-01-02T09:59:40.5Z")
    new = NodeView("new", "ALPHA", last_seen="2026-01-02T09:59:59.125+00:00")
    assert match_nodes([old, new], [ALPHA])["alpha"].node_id == "new"
    # exo lists the old id first, but the time decides, whatever the order.
    assert match_nodes([new, old], [ALPHA])["alpha"].node_id == "new"


def test_without_times_the_node_exo_lists_last_is_the_live_one():
    assert match_nodes([node("old", "ALPHA"), node("new", "ALPHA")], [ALPHA])["alpha"].node_id \
        == "new"


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-02T10:00:00Z", NOW),
    ("2026-01-02T10:00:00", NOW),  # no zone: exo's times are UTC
    ("yesterday", datetime.min.replace(tzinfo=UTC)),
    (None, datetime.min.replace(tzinfo=UTC)),
])
def test_seen_at_reads_exos_times(text, expected):
    assert seen_at(text) == expected


def test_unknown_nodes_are_those_no_inventory_name_matches():
    views = [node("old", "ALPHA"), node("new", "ALPHA"), node("x", "Somebody's MacBook")]
    assert [v.node_id for v in unknown_nodes(views, [ALPHA, BETA])] == ["x"]


def test_healthy_node_is_online():
    a, b = node("a", "ALPHA"), node("b", "BETA")
    assert status(ALPHA, a, cluster(a, b)).status == "online"


def test_rdma_disabled_degrades_with_the_fix():
    a, b = node("a", "ALPHA", rdma=False), node("b", "BETA")
    result = status(ALPHA, a, cluster(a, b))
    assert result.status == "degraded" and "rdma_ctl enable" in result.reason


def test_missing_rdma_link_degrades():
    a, b = node("a", "ALPHA"), node("b", "BETA")
    result = status(ALPHA, a, cluster(a, b, rdma=False))
    assert result.status == "degraded" and "no RDMA link" in result.reason


def test_memory_over_the_limit_degrades():
    a, b = node("a", "ALPHA", used=480), node("b", "BETA")
    result = status(ALPHA, a, cluster(a, b))
    assert result.status == "degraded" and "94%" in result.reason


def test_failed_runner_degrades_its_node():
    a, b = node("a", "ALPHA"), node("b", "BETA")
    failed = InstanceView("i", "m", "MlxJaccl", "Tensor", ["a"],
                          [RunnerView("r", "a", "Failed", error="Segmentation fault: 11")])
    result = status(ALPHA, a, cluster(a, b, instances=[failed]))
    assert result.status == "degraded" and "Segmentation fault" in result.reason
    assert status(BETA, b, cluster(a, b, instances=[failed])).status == "online"


def test_unreachable_exo_degrades_then_offlines_after_the_timeout():
    recent = status(ALPHA, None, None, last_seen=NOW - timedelta(seconds=10))
    assert recent.status == "degraded" and "exo is not answering" in recent.reason
    old = status(ALPHA, None, None, last_seen=NOW - timedelta(seconds=31))
    assert old.status == "offline" and "exo is not answering" in old.reason
    assert status(ALPHA, None, None, last_seen=None).status == "offline"


def test_node_missing_from_state_goes_offline_after_the_timeout():
    b = node("b", "BETA")
    recent = status(ALPHA, None, cluster(b), last_seen=NOW - timedelta(seconds=5))
    assert recent.status == "degraded"
    gone = status(ALPHA, None, cluster(b), last_seen=NOW - timedelta(seconds=60))
    assert gone.status == "offline" and "not in exo's cluster state" in gone.reason


def test_node_outside_the_exo_cluster_says_so():
    assert status(GAMMA, None, None) == NodeStatus("unmonitored", "not part of the exo cluster")


@pytest.mark.parametrize(("second", "width", "expected"), [(7, 10, 0), (13, 10, 10), (59, 300, 0)])
def test_bucket_start(second, width, expected):
    moment = NOW + timedelta(seconds=second)
    assert bucket_start(moment, width) == NOW + timedelta(seconds=expected)


@pytest.mark.parametrize(("used_gib", "risk"), [(378, "low"), (537, "low"), (538, "medium"),
                                               (707, "high"), (712, "high")])
def test_utilisation_against_the_guides_thresholds(used_gib, risk):
    result = utilisation(used_gib * GIB, 768 * GIB)
    assert result["risk"] == risk
    assert result["safe_bytes"] == 537 * GIB  # the guide's "<70% utilization (537 GB)"
    assert result["limit_bytes"] == 706 * GIB


def test_utilisation_of_an_empty_cluster():
    assert utilisation(0, 0)["fraction"] == 0.0
