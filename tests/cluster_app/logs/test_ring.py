"""The ring of recent log lines in Redis: numbered, bounded, with the followers' read positions
and heartbeats, read back oldest first across nodes and filtered by class and text."""

from __future__ import annotations

import pytest

from arthur_panel.redis_client import redis_client
from cluster_app.logs import ring

pytestmark = pytest.mark.usefixtures("empty_log_rings")


def line(node: str, ts: float, text: str, classes: list[str] | None = None,
         source: str | None = None) -> dict:
    return {"node": node, "ts": ts, "text": text, "classes": classes or [], "source": source}


def test_lines_are_numbered_in_order_across_pushes():
    ring.ring_push("alpha", [line("alpha", 1, "a"), line("alpha", 2, "b")], keep=10, positions={})
    ring.ring_push("alpha", [line("alpha", 3, "c")], keep=10, positions={})
    assert [(r["seq"], r["text"]) for r in ring.recent_lines(["alpha"], limit=10)] == [
        (1, "a"), (2, "b"), (3, "c")]


def test_the_ring_keeps_only_the_newest_lines():
    ring.ring_push("alpha", [line("alpha", n, str(n)) for n in range(10)], keep=3, positions={})
    assert [r["text"] for r in ring.recent_lines(["alpha"], limit=100)] == ["7", "8", "9"]


def test_positions_are_saved_with_the_lines_and_read_back():
    ring.ring_push("beta", [line("beta", 1, "x")], keep=10,
                   positions={"/var/log/exo.log": "1234:5678", "/tmp/bad": "nope"})
    assert ring.saved_positions("beta") == {"/var/log/exo.log": (1234, 5678)}
    assert ring.saved_positions("gamma") == {}


def test_nodes_are_merged_by_time_and_the_limit_keeps_the_newest():
    ring.ring_push("alpha", [line("alpha", 1, "a1"), line("alpha", 4, "a4")], keep=10,
                   positions={})
    ring.ring_push("beta", [line("beta", 2, "b2"), line("beta", 3, "b3")], keep=10,
                   positions={})
    assert [r["text"] for r in ring.recent_lines(["alpha", "beta"], limit=3)] == [
        "b2", "b3", "a4"]
    assert ring.recent_lines(["alpha", "beta"], limit=0) == []


def test_filters_by_class_and_by_text_in_the_line_or_its_source():
    ring.ring_push("alpha", [
        line("alpha", 1, "[jaccl] init done", ["jaccl"]),
        line("alpha", 2, "Runner ready", [], "exo.worker.runner"),
        line("alpha", 3, "RDMA device up", ["rdma"]),
    ], keep=10, positions={})
    assert [r["text"] for r in ring.recent_lines(["alpha"], limit=10, kind="jaccl")] == [
        "[jaccl] init done"]
    assert [r["text"] for r in ring.recent_lines(["alpha"], limit=10, query="RUNNER")] == [
        "Runner ready"]
    assert [r["text"] for r in ring.recent_lines(["alpha"], limit=10, query="device",
                                                 kind="rdma")] == ["RDMA device up"]


def test_a_filtered_read_searches_the_whole_ring_not_only_the_newest():
    lines = [line("alpha", 0, "needle", ["error"])] + [line("alpha", n, "hay")
                                                        for n in range(1, 50)]
    ring.ring_push("alpha", lines, keep=100, positions={})
    assert [r["text"] for r in ring.recent_lines(["alpha"], limit=1, kind="error")] == [
        "needle"]


def test_a_followers_heartbeat_says_what_it_follows_for_its_time_to_live():
    ring.follower_beat("alpha", {"pid": 42, "files": []}, ttl=30)
    assert ring.followers(["alpha", "beta"]) == {"alpha": {"pid": 42, "files": []},
                                                "beta": None}
    assert 0 < redis_client().pttl(f"{ring.PREFIX}:follower:alpha") <= 30_000
    assert ring.followers([]) == {}
