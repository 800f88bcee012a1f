"""The link benchmark's logic: where the ranks run, the mlx.launch command, reading the probe's
output, and what its numbers say against the guide's figures.

Pure: plain data in and out, no Django, no I/O. The job (`linkbench_job.py`) does the running.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from arthur_panel.exceptions import DomainError

BACKENDS = ("auto", "ring", "jaccl")
PROBE_MODULE = "cluster_app.linkbench.rank"
LAUNCH_MODULE = "cluster_app.linkbench.launch"
LOCAL_HOST = "127.0.0.1"
LOCAL_RANKS = 2
# Bandwidth is read from messages at least this big, where latency no longer dominates.
LARGE_BYTES = 1024**2
# "about 0.7 ms" is met up to this factor; "under 100 µs" is a bound and is not stretched.
ABOUT_TOLERANCE = 1.25
# A bandwidth within this fraction of the guide's is as good as the guide says.
BANDWIDTH_TOLERANCE = 0.8
# Within this factor of the guide's figure counts as near it.
NEAR_FACTOR = 2.0


class LinkbenchError(DomainError):
    code = "linkbench"


@dataclass(frozen=True)
class Expectation:
    """One of the guide's link figures ("RDMA Impact on DeepSeek V3")."""

    link: str
    label: str
    latency_us: float
    latency_bound: str  # "under": a ceiling; "about": a typical value
    bandwidth_gbps: float


EXPECTATIONS = {
    "rdma": Expectation("rdma", "RDMA (Thunderbolt 5)", 100.0, "under", 80.0),
    "tcp": Expectation("tcp", "TCP", 700.0, "about", 10.0),
}
# The guide's tensor transfers go over JACCL on RDMA, or MLX's ring over TCP.
LINK_OF_BACKEND = {"jaccl": "rdma", "ring": "tcp"}


@dataclass(frozen=True)
class RankNode:
    """A cluster node that would host a rank."""

    name: str
    hostname: str
    rdma_interface: str
    expects_rdma: bool

    @property
    def host(self) -> str:
        """What ssh and name resolution reach the node by."""
        return self.hostname or self.name


@dataclass(frozen=True)
class Plan:
    backend: str  # "ring" or "jaccl"
    nodes: tuple[RankNode, ...]  # one rank each, in rank order; empty: local ranks
    reason: str

    @property
    def local(self) -> bool:
        return not self.nodes

    @property
    def ranks(self) -> int:
        return len(self.nodes) or LOCAL_RANKS


def plan_run(requested: str, *, nodes: Sequence[RankNode], worker_nodes: Collection[str]) -> Plan:
    """Where the ranks run and on which backend. `nodes` are the exo cluster's, master first;
    `worker_nodes` the node queues this machine's worker serves.

    When one worker serves every cluster node's queue (the demo, the tests), the nodes are this
    one machine: two local ranks over ring. Otherwise one rank per node, over JACCL when every
    node has an RDMA device and expects RDMA, over ring (TCP) when not, or as asked.
    """
    if requested not in BACKENDS:
        raise LinkbenchError(f"backend must be one of {', '.join(BACKENDS)}.",
                             code="invalid_backend")
    names = ", ".join(node.name for node in nodes) or "none"
    one_machine = len(nodes) < 2 or all(node.name in worker_nodes for node in nodes)
    without_rdma = [node.name for node in nodes if not (node.expects_rdma and node.rdma_interface)]
    if one_machine:
        if requested == "jaccl":
            raise LinkbenchError(
                "jaccl runs one rank per node over their RDMA devices, but this panel's worker "
                f"serves every cluster node ({names}): they are one machine here. Use ring.",
                code="jaccl_unavailable")
        return Plan("ring", (), f"{LOCAL_RANKS} local ranks over ring: one worker serves every "
                                f"cluster node ({names})")
    if requested == "jaccl" and without_rdma:
        raise LinkbenchError(
            f"jaccl needs an RDMA device on every node; none is set (or RDMA is not expected) "
            f"for {', '.join(without_rdma)}.", code="jaccl_unavailable")
    if requested == "ring" or without_rdma:
        why = "as asked" if requested == "ring" else f"no RDMA device on {', '.join(without_rdma)}"
        return Plan("ring", tuple(nodes), f"one rank per node ({names}) over ring (TCP): {why}")
    return Plan("jaccl", tuple(nodes), f"one rank per node ({names}) over jaccl (RDMA)")


def hostfile(plan: Plan, ips: dict[str, str]) -> dict[str, Any]:
    """mlx.launch's hostfile for one rank per node. Rank 0 is this machine (the master's
    worker runs the job), so it starts without ssh. Each node names one RDMA device, used
    toward every other node: the guide's two Macs joined by one cable."""
    hosts = []
    for rank, node in enumerate(plan.nodes):
        entry: dict[str, Any] = {"ssh": LOCAL_HOST if rank == 0 else node.host,
                                 "ips": [ips[node.name]]}
        if plan.backend == "jaccl":
            entry["rdma"] = [None if peer == rank else node.rdma_interface
                             for peer in range(len(plan.nodes))]
        hosts.append(entry)
    return {"backend": plan.backend, "hosts": hosts}


def launch_args(plan: Plan, *, python: str, cwd: str, port: int, hostfile_path: str | None = None,
                quick: bool = False) -> list[str]:
    """The mlx.launch command line, as an argument list (run without a shell). The same
    interpreter and checkout path serve every node."""
    args = [python, "-m", LAUNCH_MODULE, "--backend", plan.backend, "--starting-port", str(port),
            "--python", python, "--cwd", cwd]
    if plan.local:
        args += ["--hosts", LOCAL_HOST, "-n", str(LOCAL_RANKS)]
    else:
        if hostfile_path is None:
            raise ValueError("ranks on the nodes need a hostfile")
        args += ["--hostfile", hostfile_path]
    args += ["--", "-m", PROBE_MODULE, "--backend", plan.backend]
    return [*args, "--quick"] if quick else args


def parse_line(line: str) -> dict[str, Any] | None:
    """The probe's `point` or `result` message on this output line, or None for other output."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("linkprobe") in ("point", "result"):
        return message
    return None


def clean_points(raw: Iterable[Any]) -> list[dict[str, float]]:
    """The probe's points as stored: `{bytes, seconds, gbps}`, by size; raises on nonsense."""
    points = []
    for item in raw:
        try:
            nbytes, seconds = int(item["bytes"]), float(item["seconds"])
        except (TypeError, KeyError, ValueError):
            raise LinkbenchError(f"the probe reported a malformed point: {item!r:.200}") from None
        if nbytes <= 0 or not 0 < seconds < float("inf"):
            raise LinkbenchError(f"the probe reported an impossible point: {item!r:.200}")
        points.append({"bytes": nbytes, "seconds": seconds, "gbps": nbytes * 8 / seconds / 1e9})
    if not points:
        raise LinkbenchError("the probe reported no message sizes")
    return sorted(points, key=lambda point: point["bytes"])


def summarise(points: Sequence[dict[str, float]]) -> dict[str, float]:
    """Latency: the median time at the smallest size, in µs. Bandwidth: the best Gb/s among
    sizes of at least LARGE_BYTES (the largest size when none is that big)."""
    smallest = min(point["bytes"] for point in points)
    latency = statistics.median(p["seconds"] for p in points if p["bytes"] == smallest)
    large = [p for p in points if p["bytes"] >= LARGE_BYTES]
    if not large:
        biggest = max(point["bytes"] for point in points)
        large = [p for p in points if p["bytes"] == biggest]
    return {"latency_us": latency * 1e6, "bandwidth_gbps": max(p["gbps"] for p in large)}


def latency_verdict(measured_us: float | None, expected: Expectation) -> str:
    if measured_us is None:
        return "unknown"
    limit = expected.latency_us * (1.0 if expected.latency_bound == "under" else ABOUT_TOLERANCE)
    if measured_us <= limit:
        return "meets"
    return "near" if measured_us <= expected.latency_us * NEAR_FACTOR else "misses"


def bandwidth_verdict(measured_gbps: float | None, expected: Expectation) -> str:
    if measured_gbps is None:
        return "unknown"
    if measured_gbps >= expected.bandwidth_gbps * BANDWIDTH_TOLERANCE:
        return "meets"
    return "near" if measured_gbps >= expected.bandwidth_gbps / NEAR_FACTOR else "misses"


def compare(backend: str, latency_us: float | None, bandwidth_gbps: float | None) -> dict[str, Any]:
    """Each figure against the guide's for the link this backend uses, with a verdict:
    meets, near (within a factor of two), misses, or unknown (not measured)."""
    expected = EXPECTATIONS[LINK_OF_BACKEND.get(backend, "tcp")]
    return {
        "link": expected.link,
        "label": expected.label,
        "latency": {
            "measured_us": latency_us, "expected_us": expected.latency_us,
            "bound": expected.latency_bound,
            "ratio": None if latency_us is None else latency_us / expected.latency_us,
            "verdict": latency_verdict(latency_us, expected),
        },
        "bandwidth": {
            "measured_gbps": bandwidth_gbps, "expected_gbps": expected.bandwidth_gbps,
            "ratio": None if bandwidth_gbps is None else bandwidth_gbps / expected.bandwidth_gbps,
            "verdict": bandwidth_verdict(bandwidth_gbps, expected),
        },
    }


def expected_curve(expected: Expectation, sizes: Iterable[int]) -> list[dict[str, float]]:
    """What the guide's figures predict at each size: a fixed latency plus the size at its
    bandwidth. At small sizes this is the latency figure; at large ones, the bandwidth."""
    curve = []
    for nbytes in sizes:
        seconds = expected.latency_us / 1e6 + nbytes * 8 / (expected.bandwidth_gbps * 1e9)
        curve.append({"bytes": nbytes, "seconds": seconds, "gbps": nbytes * 8 / seconds / 1e9})
    return curve


def expected_curves(sizes: Sequence[int]) -> dict[str, list[dict[str, float]]]:
    return {link: expected_curve(expected, sizes) for link, expected in EXPECTATIONS.items()}


def describe_point(point: dict[str, Any]) -> str:
    """`64 KiB: 41.2 µs, 12.7 Gb/s` for the job's log."""
    return (f"{format_bytes(int(point['bytes']))}: {point['seconds'] * 1e6:,.1f} µs, "
            f"{point['gbps']:.3g} Gb/s")


def format_bytes(nbytes: int) -> str:
    value, unit = float(nbytes), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:g} {unit}"
