"""What each alert rule checks: the panel's current state in (plain data), the subjects the rule
holds for out (a node, a model, a pair of nodes), each with its labels, summary and hint.
Pure: no I/O, no clock; the times in the facts are ages, already measured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cluster_app.exo.state import RDMA

GIB = 1024**3
# The cluster guide's "Troubleshooting: JACCL Not Activating", for a JACCL line with no hint of
# its own.
JACCL_HINT = (
    "JACCL errors mean tensor parallelism over RDMA is failing. Check the RDMA device "
    "(`/usr/bin/ibv_devinfo -d rdma_en4`), that MLX sees Metal (`python3 -c \"import mlx.core "
    "as mx; print(mx.metal.is_available())\"`) and `grep JACCL` in exo's log; a lost RDMA "
    "connection needs both Macs rebooted (exo issue 1847).")
TCP_HINT = (
    "Tensor parallelism falls back to TCP (~10 Gb/s, ~0.7 ms instead of 80 Gb/s, <100 µs): "
    "check the Thunderbolt 5 cable and `rdma_ctl enable` (in Recovery) on both Macs.")
MEMORY_HINT = (
    "The guide's safe zone is under 70% and its limit 92%: check `memory_pressure`, unload a "
    "model or use a smaller one (Llama 70B instead of DeepSeek V3).")


@dataclass(frozen=True)
class NodeFacts:
    name: str
    display_name: str
    in_exo_cluster: bool
    expects_rdma: bool
    status: str  # online, degraded, offline, unmonitored
    status_reason: str = ""
    ram_used: int | None = None
    ram_total: int | None = None
    swap_used: int | None = None
    disk_free: int | None = None
    worker_online: bool | None = None  # None: no heartbeat ever seen


@dataclass(frozen=True)
class LinkFacts:
    a: str
    b: str
    kind: str  # exo/state.py's RDMA or TCP


@dataclass(frozen=True)
class RunnerFacts:
    model_id: str
    node: str
    state: str  # exo's runner state: Loading, Ready, Failed...
    error: str | None = None


@dataclass(frozen=True)
class JobFacts:
    """The newest finished job of a kind for one subject (model@node, or model)."""

    kind: str
    subject: str
    failed: bool
    age_seconds: float  # since it finished
    error: str = ""
    job_id: int = 0


@dataclass(frozen=True)
class HealthFacts:
    name: str
    scope: str
    status: str  # pass, warn, fail, unavailable
    summary: str = ""
    hint: str = ""


@dataclass(frozen=True)
class LogFacts:
    node: str
    text: str
    classes: tuple[str, ...]
    age_seconds: float
    hint: str | None = None


@dataclass(frozen=True)
class Facts:
    """The panel's state at one evaluation. `exo_reachable` is None before the first poll."""

    exo_reachable: bool | None = None
    exo_error: str | None = None
    nodes: tuple[NodeFacts, ...] = ()
    links: tuple[LinkFacts, ...] = ()
    runners: tuple[RunnerFacts, ...] = ()
    jobs: tuple[JobFacts, ...] = ()
    health: tuple[HealthFacts, ...] = ()
    log_lines: tuple[LogFacts, ...] = ()
    largest_model: tuple[str, int] | None = None  # the catalogue's (name, bytes)
    node_offline_seconds: int = 30


@dataclass(frozen=True)
class Finding:
    """The rule holds for this subject."""

    summary: str
    labels: dict[str, str] = field(default_factory=dict)
    hint: str = ""


Findings = dict[str, Finding]
Condition = Callable[[Facts, float | None], Findings]


def _exo_nodes(facts: Facts) -> list[NodeFacts]:
    return [node for node in facts.nodes if node.in_exo_cluster]


def node_offline(facts: Facts, threshold: float | None) -> Findings:
    """exo nodes marked offline (silent NODE_OFFLINE_SECONDS, or `threshold` seconds when set:
    the poll marks them). Not while exo itself is unreachable: that alert says it."""
    if not facts.exo_reachable:
        return {}
    after = int(threshold) if threshold is not None else facts.node_offline_seconds
    return {node.name: Finding(
        f"{node.display_name} is offline: {node.status_reason or 'not seen'} "
        f"(silent over {after} s)", {"node": node.name},
        f"Is {node.display_name} awake and is exo running on it? Start it from the Cluster page.")
        for node in _exo_nodes(facts) if node.status == "offline"}


def worker_silent(facts: Facts, threshold: float | None) -> Findings:
    """Nodes whose Celery worker has not beaten within WORKER_OFFLINE_SECONDS."""
    return {node.name: Finding(
        f"{node.display_name}'s worker is silent: jobs for it wait", {"node": node.name},
        f"Start the panel's workers on {node.display_name} (`manage.py service install`).")
        for node in facts.nodes if node.worker_online is False}


def _memory(facts: Facts, threshold: float | None, default: float) -> Findings:
    limit = threshold if threshold is not None else default
    found = {}
    for node in _exo_nodes(facts):
        if node.status == "offline" or not node.ram_total or node.ram_used is None:
            continue
        fraction = node.ram_used / node.ram_total
        if fraction >= limit:
            found[node.name] = Finding(
                f"{node.display_name}'s memory is at {fraction:.0%} (limit {limit:.0%})",
                {"node": node.name}, MEMORY_HINT)
    return found


def memory_warning(facts: Facts, threshold: float | None) -> Findings:
    """Memory in use at or over `threshold` (a fraction; the guide's safe zone, 0.70)."""
    return _memory(facts, threshold, 0.70)


def memory_critical(facts: Facts, threshold: float | None) -> Findings:
    """Memory in use at or over `threshold` (a fraction; the guide's limit, 0.92)."""
    return _memory(facts, threshold, 0.92)


def swap_in_use(facts: Facts, threshold: float | None) -> Findings:
    """Swap in use over `threshold` GiB (0: any)."""
    limit = (threshold or 0.0) * GIB
    return {node.name: Finding(
        f"{node.display_name} is swapping: {node.swap_used / GIB:.1f} GB of swap in use",
        {"node": node.name}, MEMORY_HINT)
        for node in _exo_nodes(facts)
        if node.status != "offline" and node.swap_used is not None and node.swap_used > limit}


def rdma_tcp_only(facts: Facts, threshold: float | None) -> Findings:
    """Pairs of live nodes that both expect RDMA and are linked by TCP only."""
    expecting = {node.name for node in _exo_nodes(facts)
                 if node.expects_rdma and node.status != "offline"}
    kinds: dict[tuple[str, str], set[str]] = {}
    for link in facts.links:
        pair = (min(link.a, link.b), max(link.a, link.b))
        if set(pair) <= expecting:
            kinds.setdefault(pair, set()).add(link.kind)
    return {f"{a}-{b}": Finding(f"RDMA expected between {a} and {b}, but the link is TCP only",
                                {"pair": f"{a}-{b}"}, TCP_HINT)
            for (a, b), found in sorted(kinds.items()) if RDMA not in found}


def jaccl_errors(facts: Facts, threshold: float | None) -> Findings:
    """JACCL error lines in a node's logs within the last `threshold` seconds (600)."""
    window = threshold if threshold is not None else 600.0
    found: Findings = {}
    for line in sorted(facts.log_lines, key=lambda line: -line.age_seconds):
        if "jaccl" in line.classes and "error" in line.classes and line.age_seconds <= window:
            found[line.node] = Finding(f"JACCL error on {line.node}: {line.text[:300]}",
                                       {"node": line.node}, line.hint or JACCL_HINT)
    return found


def runner_failed(facts: Facts, threshold: float | None) -> Findings:
    """exo runners in the Failed state."""
    return {f"{runner.model_id}@{runner.node}": Finding(
        f"A runner of {runner.model_id} failed on {runner.node}: "
        f"{runner.error or 'no message'}"[:500], {"model": runner.model_id, "node": runner.node},
        "exo re-creates failed runners with backoff; the Logs page has the runner's lines.")
        for runner in facts.runners if runner.state == "Failed"}


def _failed_jobs(facts: Facts, threshold: float | None, kind: str, what: str,
                 hint: str) -> Findings:
    window = threshold if threshold is not None else 3600.0
    found = {}
    for job in facts.jobs:
        if job.kind == kind and job.failed and job.age_seconds <= window:
            labels = dict(zip(("model", "node"), job.subject.split("@", 1), strict=False))
            found[job.subject] = Finding(
                f"{what} {job.subject} failed: {job.error or 'no message'}"[:500],
                {**labels, "job": str(job.job_id)}, hint)
    return found


def model_load_failed(facts: Facts, threshold: float | None) -> Findings:
    """The newest load of a model failed within the last `threshold` seconds (3600)."""
    return _failed_jobs(facts, threshold, "instance.load", "Loading",
                        "The job's page has exo's message; the Planner says whether it fits.")


def download_failed(facts: Facts, threshold: float | None) -> Findings:
    """The newest download of a model to a node failed within the last `threshold` s (3600)."""
    return _failed_jobs(facts, threshold, "model.download", "Downloading",
                        "The job's page has the error; resume it from the Downloads page.")


def health_failing(facts: Facts, threshold: float | None) -> Findings:
    """Health checks whose latest verdict is `fail`."""
    return {f"{check.name}@{check.scope}": Finding(
        f"Health check {check.name} ({check.scope}) fails: {check.summary}"[:500],
        {"check": check.name, "scope": check.scope}, check.hint)
        for check in facts.health if check.status == "fail"}


def disk_low(facts: Facts, threshold: float | None) -> Findings:
    """exo nodes whose free disk is below the catalogue's largest model (times `threshold`,
    1 by default): its download could not land there."""
    if facts.largest_model is None:
        return {}
    name, size = facts.largest_model
    needed = size * (threshold if threshold is not None else 1.0)
    return {node.name: Finding(
        f"{node.display_name} has {node.disk_free / GIB:.0f} GB free, less than {name} "
        f"({size / GIB:.0f} GB)", {"node": node.name},
        "Delete models this node no longer needs from the Downloads page.")
        for node in _exo_nodes(facts) if node.disk_free is not None and node.disk_free < needed}


def exo_unreachable(facts: Facts, threshold: float | None) -> Findings:
    """exo's API does not answer the poll."""
    if facts.exo_reachable is not False:
        return {}
    return {"exo": Finding(f"exo is unreachable: {facts.exo_error or 'no answer'}", {},
                           "Start the cluster from the Cluster page (the guide's Step 2).")}


@dataclass(frozen=True)
class RuleDefault:
    key: str
    name: str
    severity: str
    condition: Condition
    threshold: float | None = None
    for_seconds: int = 0


# Every rule the panel knows, with its seeded defaults (migration 0015 keeps a copy).
DEFAULTS = (
    RuleDefault("node_offline", "Node offline", "critical", node_offline),
    RuleDefault("worker_silent", "Node worker silent", "warning", worker_silent, for_seconds=30),
    RuleDefault("memory_warning", "Memory over the safe zone", "warning", memory_warning,
                0.70, 60),
    RuleDefault("memory_critical", "Memory over the guide's limit", "critical",
                memory_critical, 0.92, 0),
    RuleDefault("swap_in_use", "Swap in use", "warning", swap_in_use, 0.0, 300),
    RuleDefault("rdma_tcp_only", "RDMA expected, link is TCP only", "critical", rdma_tcp_only),
    RuleDefault("jaccl_errors", "JACCL errors in the logs", "critical", jaccl_errors, 600.0),
    RuleDefault("runner_failed", "Runner failed", "critical", runner_failed),
    RuleDefault("model_load_failed", "Model load failed", "warning", model_load_failed, 3600.0),
    RuleDefault("download_failed", "Download failed", "warning", download_failed, 3600.0),
    RuleDefault("health_failing", "Health check failing", "warning", health_failing,
                for_seconds=60),
    RuleDefault("disk_low", "Disk below the largest model", "warning", disk_low, 1.0),
    RuleDefault("exo_unreachable", "exo unreachable", "critical", exo_unreachable,
                for_seconds=10),
)
CONDITIONS: dict[str, Condition] = {rule.key: rule.condition for rule in DEFAULTS}
