"""The families that are a state, read when Prometheus scrapes: from the database (the nodes'
live fields the poll and GAMMA's worker write, jobs, health verdicts) and from the latest
poll's snapshot in Redis (exo reachable, links, instances). Read at scrape time rather than
pushed by the processes that learn them: the value is the present one whichever process wrote
it, on whichever machine (BETA's worker writes its node's row too), and nothing stale stays
behind when a process exits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cluster_app.metrics.rules import link_states
from cluster_app.models import Alert, HealthResult, Job, Node
from cluster_app.nodes.poll import cluster_snapshot

# (family, help, the Node field), each in the unit its name says
NODE_FIGURES = (
    ("arthur_node_memory_used_bytes", "Memory in use.", "ram_used"),
    ("arthur_node_memory_total_bytes", "Memory installed.", "ram_total"),
    ("arthur_node_swap_used_bytes", "Swap in use.", "swap_used"),
    ("arthur_node_disk_free_bytes", "Free space on the models disk.", "disk_free"),
    ("arthur_node_disk_total_bytes", "Size of the models disk.", "disk_total"),
    ("arthur_node_gpu_utilisation_ratio", "GPU use, 0 to 1.", "gpu_usage"),
    ("arthur_node_temperature_celsius", "GPU temperature.", "temperature"),
    ("arthur_node_power_watts", "Power drawn (the system's on a Mac, the GPUs' on GAMMA).",
     "power"),
)


class NodeCollector(Collector):
    """Each inventory node's live figures, as its row has them now."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        nodes = list(Node.objects.order_by("name").defer("links", "gpu_reading"))
        up = GaugeMetricFamily("arthur_node_up", "1 while the node is reported (online or "
                               "degraded; for GAMMA, while its worker reads its GPUs).",
                               labels=["node"])
        for node in nodes:
            up.add_metric([node.name], float(node.status in Node.LIVE))
        yield up
        for name, text, field in NODE_FIGURES:
            family = GaugeMetricFamily(name, text, labels=["node"])
            for node in nodes:
                value = getattr(node, field)
                if value is not None:
                    family.add_metric([node.name], float(value))
            yield family
        yield from _exo_processes(nodes)


def _exo_processes(nodes: list[Node]) -> Iterator[GaugeMetricFamily]:
    running = GaugeMetricFamily("arthur_exo_process_up", "1 while the node's exo process runs, "
                                "as its worker last read it (every 15 s).", labels=["node"])
    uptime = GaugeMetricFamily("arthur_exo_process_uptime_seconds",
                               "How long the node's exo process has run.", labels=["node"])
    now = timezone.now()
    for node in nodes:
        if not node.in_exo_cluster:
            continue
        running.add_metric([node.name], float(node.exo_pid is not None))
        if node.exo_pid is not None and node.exo_started_at:
            uptime.add_metric([node.name], max((now - node.exo_started_at).total_seconds(), 0))
    yield running
    yield uptime


class ClusterCollector(Collector):
    """exo as the latest poll saw it: reachable, its links between the inventory's exo nodes,
    and its instances by model and state."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot: dict[str, Any] = cluster_snapshot() or {}
        yield GaugeMetricFamily("arthur_exo_up", "1 when the latest poll reached exo's API.",
                                value=float(bool(snapshot.get("reachable"))))
        exo_nodes = list(Node.objects.filter(in_exo_cluster=True).values_list("name", flat=True))
        links = GaugeMetricFamily(
            "arthur_link_up", "1 when exo reports a link of this kind (rdma, tcp) between the "
            "two nodes.", labels=["a", "b", "kind"])
        for (a, b, kind), state in link_states(exo_nodes, snapshot.get("links", [])).items():
            links.add_metric([a, b, kind], float(state))
        yield links
        instances = GaugeMetricFamily("arthur_instances", "exo's instances, by model (exo's "
                                      "id) and state.", labels=["model", "state"])
        counts = Counter((i["model_id"], i["status"]) for i in snapshot.get("instances", []))
        for (model, state), count in sorted(counts.items()):
            instances.add_metric([model, state], float(count))
        yield instances


class JobCollector(Collector):
    """Jobs in the database by kind and state (finished ones until they are pruned)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("arthur_jobs", "Jobs by kind and state.",
                                   labels=["kind", "state"])
        for row in Job.objects.values("kind", "state").annotate(n=Count("id")).order_by(
                "kind", "state"):
            family.add_metric([row["kind"], row["state"]], float(row["n"]))
        yield family


class HealthCollector(Collector):
    """The latest verdict of each health and doctor check, by scope (cluster or a node)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "arthur_health_check_status", "1 for each check's latest verdict (pass, warn, fail, "
            "unavailable), by check and scope.", labels=["check", "scope", "status"])
        for name, scope, status in HealthResult.objects.order_by("name", "scope").values_list(
                "name", "scope", "status"):
            family.add_metric([name, scope, status], 1.0)
        yield family


class AlertCollector(Collector):
    """Each active alert (pending or firing) by rule, severity and subject (a node, a model, a
    pair: bounded by the inventory and the catalogue); a resolved one is no longer listed."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "arthur_alert_active", "1 for each pending or firing alert, by rule, severity, "
            "subject and state.", labels=["rule", "severity", "subject", "state"])
        for rule, severity, subject, state in (
                Alert.objects.filter(state__in=Alert.ACTIVE).order_by("rule__key", "subject")
                .values_list("rule__key", "severity", "subject", "state")):
            family.add_metric([rule, severity, subject, state], 1.0)
        yield family
