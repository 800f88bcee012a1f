"""exo's links as the panel shows them: each node's own, as its row keeps them, and each pair
of nodes once, as the cluster snapshot lists them. Pure: no I/O.

The tables of the last call are kept and handed out again for the very same list of links
(normalise hands out one list per topology) and the same names: from one poll to the next they
hardly ever change, and in a mesh of 32 nodes making them costs the poll more than anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster_app.exo.state import LinkView
from cluster_app.nodes.changes import links_digest


@dataclass(frozen=True)
class LinkTables:
    # exo node id -> the links that start there, with peers named as in the inventory.
    by_node: dict[str, list[dict[str, Any]]]
    # exo node id -> links_digest of its links.
    digests: dict[str, str]
    # Each pair of nodes and kind once (exo lists each link from both ends): the first seen.
    pairs: list[dict[str, Any]]

    def node_links(self, node_id: str) -> tuple[list[dict[str, Any]], str]:
        """The node's links and their digest (none: an empty list)."""
        if node_id in self.by_node:
            return self.by_node[node_id], self.digests[node_id]
        return [], _NO_LINKS


_NO_LINKS = links_digest([])
NO_TABLES = LinkTables({}, {}, [])  # no view of the cluster: no links

# The last call's arguments and tables, as (links, names, tables).
_last: list[tuple[list[LinkView], dict[str, str], LinkTables]] = []


def link_tables(links: list[LinkView], names: dict[str, str]) -> LinkTables:
    """The tables of exo's `links` (never changed once made), peers named by `names` (exo node
    id -> inventory name)."""
    for last_links, last_names, tables in _last:
        if last_links is links and last_names == names:
            return tables
    tables = _tables(links, names)
    _last[:] = [(links, dict(names), tables)]
    return tables


def _tables(links: list[LinkView], names: dict[str, str]) -> LinkTables:
    """Both tables in one pass over exo's links."""
    by_node: dict[str, list[dict[str, Any]]] = {}
    pairs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for link in links:
        source, sink, kind, address = link.source, link.sink, link.kind, link.address
        interface, peer_interface = link.source_interface, link.sink_interface
        by_node.setdefault(source, []).append(
            {"peer": names.get(sink, sink), "kind": kind, "interface": interface,
             "peer_interface": peer_interface, "address": address})
        key = (source, sink, kind) if source < sink else (sink, source, kind)
        if key not in pairs:
            a, b = key[0], key[1]
            pairs[key] = {"a": names.get(a, a), "b": names.get(b, b), "kind": kind,
                          "interfaces": [i for i in (interface, peer_interface) if i],
                          "address": address}
    digests = {node_id: links_digest(node_links) for node_id, node_links in by_node.items()}
    return LinkTables(by_node, digests, list(pairs.values()))
