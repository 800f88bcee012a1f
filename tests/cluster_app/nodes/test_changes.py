"""What the cluster poll must write of a node: live values to compare, links by their digest."""

from __future__ import annotations

from datetime import UTC, datetime

from cluster_app.models import Node
from cluster_app.nodes.changes import LIVE_FIELDS, links_digest, live_values

LINK = {"peer": "beta", "kind": "rdma", "interface": "rdma_en3", "peer_interface": "rdma_en4",
        "address": None}


def test_the_same_links_give_the_same_digest():
    digest = links_digest([LINK, {**LINK, "kind": "tcp"}])
    assert digest == links_digest([dict(LINK), {**LINK, "kind": "tcp"}])
    assert len(digest) == 32 and int(digest, 16) >= 0


def test_any_change_to_the_links_changes_the_digest():
    digest = links_digest([LINK])
    assert links_digest([{**LINK, "peer": "gamma"}]) != digest
    assert links_digest([{**LINK, "address": "/ip4/10.0.0.2/tcp/52415"}]) != digest
    assert links_digest([LINK, LINK]) != digest
    assert links_digest([]) != digest


def test_live_values_are_the_live_fields_but_the_links():
    node = Node(name="alpha", status="online", ram_used=1, links=[LINK])
    values = live_values(node)
    assert len(values) == len(LIVE_FIELDS) and "links" not in LIVE_FIELDS
    assert values[LIVE_FIELDS.index("ram_used")] == 1
    node.last_seen_at = datetime(2026, 1, 1, tzinfo=UTC)
    assert live_values(node) != values
    node.last_seen_at = None
    node.links = []
    assert live_values(node) == values
