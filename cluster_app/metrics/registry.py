"""What a scrape answers: every process's counted families (the multiprocess directory) and
the collectors that read a state when asked.

Another part of the panel adds its own state with `register_collector` (from its AppConfig's
`ready`): alert states, say."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.registry import Collector

from cluster_app.metrics import store
from cluster_app.metrics.collectors import (
    AlertCollector,
    ClusterCollector,
    HealthCollector,
    JobCollector,
    NodeCollector,
)

COLLECTORS: list[Collector] = [NodeCollector(), ClusterCollector(), JobCollector(),
                               HealthCollector(), AlertCollector()]


def register_collector(collector: Collector) -> None:
    """Have every scrape also answer what `collector` yields."""
    if collector not in COLLECTORS:
        COLLECTORS.append(collector)


def scrape() -> bytes:
    """The Prometheus text format of every family, this machine's processes added up."""
    directory = Path(settings.PROMETHEUS_MULTIPROC_DIR)
    registry = CollectorRegistry()
    for collector in COLLECTORS:
        registry.register(collector)
    with store.locked(directory):
        store.compact(directory)
        multiprocess.MultiProcessCollector(registry, path=str(directory))
        return generate_latest(registry)
