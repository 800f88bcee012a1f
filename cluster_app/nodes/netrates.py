"""Pure rules for a node's network throughput: which interfaces to watch, and bytes per second
in and out from two readings of their byte counters. No I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Interface name -> (bytes received, bytes sent), as the kernel counts them since boot.
Counters = Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class Rates:
    """Bytes per second per interface, and the configured interfaces the host does not have."""

    interfaces: dict[str, tuple[float, float]]  # name -> (in, out)
    missing: list[str]


def is_loopback(name: str) -> bool:
    return name == "lo" or name.startswith("lo") and name[2:].isdigit()  # lo, lo0


def watched(configured: list[str], counters: Counters) -> list[str]:
    """The interfaces named in the node's settings; none named: every non-loopback interface
    that has carried traffic (a Mac lists dozens that never do: awdl0, utun3, ...)."""
    if configured:
        return list(configured)
    return sorted(name for name, (received, sent) in counters.items()
                  if not is_loopback(name) and received + sent > 0)


def _delta(before: int, after: int) -> int:
    # A counter that went down was reset (the interface came back) or wrapped (32-bit counters
    # on some drivers): count from zero, as Prometheus's rate() does, rather than guess a wrap
    # and report a spike of gigabytes.
    return after - before if after >= before else after


def rates(previous: Counters, current: Counters, elapsed: float, configured: list[str]) -> Rates:
    """Bytes per second over `elapsed` seconds for the watched interfaces. An interface with
    no earlier reading (just appeared, or the first reading) has no rate yet; a configured one
    the host lacks is listed as missing."""
    names = watched(configured, current)
    missing = [name for name in names if name not in current]
    found: dict[str, tuple[float, float]] = {}
    if elapsed > 0:
        for name in names:
            if name in current and name in previous:
                (rx0, tx0), (rx1, tx1) = previous[name], current[name]
                found[name] = (_delta(rx0, rx1) / elapsed, _delta(tx0, tx1) / elapsed)
    return Rates(found, missing)
