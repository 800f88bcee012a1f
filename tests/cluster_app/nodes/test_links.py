"""exo's links as the nodes' rows and the cluster snapshot show them."""

from __future__ import annotations

from cluster_app.exo.state import RDMA, TCP, LinkView
from cluster_app.nodes.changes import links_digest
from cluster_app.nodes.links import link_tables

NAMES = {"id-a": "alpha", "id-b": "beta"}
# exo lists each link from both ends, TCP once per address.
LINKS = [LinkView("id-a", "id-b", RDMA, "rdma_en3", "rdma_en4"),
         LinkView("id-a", "id-b", TCP, address="/ip4/10.0.0.2/tcp/52415"),
         LinkView("id-a", "id-b", TCP, address="/ip6/fe80::2/tcp/52415"),
         LinkView("id-b", "id-a", RDMA, "rdma_en4", "rdma_en3"),
         LinkView("id-b", "id-a", TCP, address="/ip4/10.0.0.1/tcp/52415"),
         LinkView("id-b", "id-c", TCP, address="/ip4/10.0.0.3/tcp/52415")]


def test_each_nodes_links_name_their_peers_as_in_the_inventory():
    tables = link_tables(LINKS, NAMES)
    links, digest = tables.node_links("id-a")
    assert links == [
        {"peer": "beta", "kind": RDMA, "interface": "rdma_en3", "peer_interface": "rdma_en4",
         "address": None},
        {"peer": "beta", "kind": TCP, "interface": None, "peer_interface": None,
         "address": "/ip4/10.0.0.2/tcp/52415"},
        {"peer": "beta", "kind": TCP, "interface": None, "peer_interface": None,
         "address": "/ip6/fe80::2/tcp/52415"}]
    assert digest == links_digest(links)
    # A peer outside the inventory keeps exo's id; a node with no links has none.
    assert [link["peer"] for link in tables.node_links("id-b")[0]] == ["alpha", "alpha", "id-c"]
    assert tables.node_links("id-c") == ([], links_digest([]))


def test_each_pair_and_kind_is_listed_once_as_first_seen():
    assert link_tables(LINKS, NAMES).pairs == [
        {"a": "alpha", "b": "beta", "kind": RDMA, "interfaces": ["rdma_en3", "rdma_en4"],
         "address": None},
        {"a": "alpha", "b": "beta", "kind": TCP, "interfaces": [],
         "address": "/ip4/10.0.0.2/tcp/52415"},
        {"a": "beta", "b": "id-c", "kind": TCP, "interfaces": [],
         "address": "/ip4/10.0.0.3/tcp/52415"}]


def test_the_tables_are_made_again_only_for_other_links_or_names():
    links = list(LINKS)
    tables = link_tables(links, NAMES)
    assert link_tables(links, dict(NAMES)) is tables
    renamed = link_tables(links, {**NAMES, "id-c": "gamma"})
    assert renamed is not tables and renamed.pairs[-1]["b"] == "gamma"
    # Another list, even an equal one, is another topology read.
    assert link_tables(list(LINKS), NAMES) is not link_tables(links, NAMES)
