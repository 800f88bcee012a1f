"""The pure rules behind /metrics: who may scrape without a key, and labels kept bounded (a
label value never carries an id, a prompt or other free text, and a family never grows without
end: Prometheus keeps one series per label set)."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
OTHER = "other"
JACCL_ERROR = "jaccl_error"  # a log class of its own: JACCL lines that are failures
# Label values kept as they are: short names of letters, digits and a few separators.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@ -]{0,63}")
LINK_KINDS = ("rdma", "tcp")


def address_allowed(address: str | None, networks: Sequence[Network]) -> bool:
    """Whether the client `address` is inside one of `networks` (an IPv4 client seen as
    `::ffff:a.b.c.d` counts as its IPv4 address)."""
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in networks)


class BoundedLabel:
    """A label's values as given, until `limit` distinct ones were seen; any later new value
    is `other`. Values that are not short plain names are `other` too."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if not _PLAIN.fullmatch(value):
            return OTHER
        if value not in self._seen:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


def key_label(name: str, hint: str) -> str:
    """An API key as a label: its name, else its hint (the secret's first characters, never
    enough to use it); `session` for a browser."""
    return (name.strip() or hint or "session")[:64]


def log_line_counts(records: Iterable[Mapping[str, Any]]) -> Counter[tuple[str, str]]:
    """(node, class) -> lines, from classified log records; a line of no class is `other`, and
    a JACCL line that is an error or has a known failure's hint also counts as `jaccl_error`."""
    counts: Counter[tuple[str, str]] = Counter()
    for record in records:
        classes = record.get("classes") or [OTHER]
        for name in classes:
            counts[(record["node"], name)] += 1
        if "jaccl" in classes and ("error" in classes or record.get("hint")):
            counts[(record["node"], JACCL_ERROR)] += 1
    return counts


def failed_runners(instances: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """runner id -> model id, of every failed runner in a snapshot's instances."""
    return {runner["runner_id"]: instance["model_id"] for instance in instances
            for runner in instance.get("runners", []) if runner.get("state") == "Failed"}


def new_runner_failures(before: Iterable[Mapping[str, Any]],
                        after: Iterable[Mapping[str, Any]]) -> list[str]:
    """The model of each runner failed in `after` that was not failed in `before` (two polls'
    instances): each failure is counted once, however many polls still show it."""
    old = failed_runners(before)
    return [model for runner, model in failed_runners(after).items() if runner not in old]


def link_states(nodes: Sequence[str], links: Iterable[Mapping[str, Any]]
                ) -> dict[tuple[str, str, str], int]:
    """(a, b, kind) -> 1 when exo reports that link, else 0, for every pair of `nodes` (the
    inventory's exo nodes, so a pair exo lost still shows, as 0) and kind."""
    present = {(*sorted((link["a"], link["b"])), link["kind"]) for link in links}
    return {(a, b, kind): int((a, b, kind) in present)
            for a, b in combinations(sorted(nodes), 2) for kind in LINK_KINDS}
