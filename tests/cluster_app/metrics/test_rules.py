"""The pure rules of /metrics: the scraper allow-list and bounded labels."""

from __future__ import annotations

import ipaddress

import pytest

from cluster_app.metrics.rules import (
    BoundedLabel,
    address_allowed,
    key_label,
    link_states,
    log_line_counts,
    new_runner_failures,
)

NETWORKS = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("192.168.1.7/32"),
            ipaddress.ip_network("fd00::/8")]


@pytest.mark.parametrize(("address", "allowed"), [
    ("10.0.0.1", True), ("10.0.0.255", True), ("10.0.1.1", False), ("192.168.1.7", True),
    ("192.168.1.8", False), ("fd00::1", True), ("fe80::1", False),
    ("::ffff:10.0.0.9", True),  # an IPv4 client on a dual-stack socket
    ("::ffff:10.9.0.9", False), ("", False), (None, False), ("not-an-ip", False),
])
def test_an_address_is_allowed_only_inside_a_listed_network(address, allowed):
    assert address_allowed(address, NETWORKS) is allowed


def test_an_empty_allow_list_allows_nobody():
    assert not address_allowed("127.0.0.1", [])


def test_a_bounded_label_keeps_its_first_values_then_says_other():
    label = BoundedLabel(2)
    assert [label("a"), label("b"), label("c"), label("a"), label("b")] == ["a", "b", "other",
                                                                           "a", "b"]


@pytest.mark.parametrize("value", ["", "x" * 65, "line\nbreak", '{"json": 1}', "-leading"])
def test_free_text_is_never_a_label(value):
    assert BoundedLabel(10)(value) == "other"


def test_a_key_is_named_by_its_name_else_its_hint():
    assert key_label("claude-code", "arthur_abc123") == "claude-code"
    assert key_label("  ", "arthur_abc123") == "arthur_abc123"
    assert key_label("", "") == "session"


def test_log_lines_are_counted_per_node_and_class_with_jaccl_errors_apart():
    records = [
        {"node": "alpha", "classes": ["jaccl", "error"], "hint": None},
        {"node": "alpha", "classes": ["jaccl"], "hint": "reboot both Macs"},
        {"node": "alpha", "classes": ["jaccl"], "hint": None},
        {"node": "beta", "classes": [], "hint": None},
    ]
    assert log_line_counts(records) == {
        ("alpha", "jaccl"): 3, ("alpha", "error"): 1, ("alpha", "jaccl_error"): 2,
        ("beta", "other"): 1}


def instance(model, *states):
    return {"model_id": model, "runners": [{"runner_id": f"{model}-{n}", "state": state}
                                           for n, state in enumerate(states)]}


def test_a_runner_failure_is_counted_once_however_many_polls_show_it():
    first = [instance("m", "Ready", "Loading")]
    failed = [instance("m", "Ready", "Failed")]
    assert new_runner_failures(first, failed) == ["m"]
    assert new_runner_failures(failed, failed) == []
    assert new_runner_failures([], [instance("m", "Failed", "Failed"), instance("n", "Ready")]
                               ) == ["m", "m"]


def test_every_pair_of_exo_nodes_has_a_state_for_each_link_kind():
    links = [{"a": "beta", "b": "alpha", "kind": "tcp"},
             {"a": "alpha", "b": "unknown-exo-id", "kind": "rdma"}]
    assert link_states(["beta", "alpha"], links) == {
        ("alpha", "beta", "rdma"): 0, ("alpha", "beta", "tcp"): 1}
