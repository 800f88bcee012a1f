"""docs/grafana-dashboard.json and docs/prometheus.yml: they parse, the scrape config points at
/metrics with a bearer token file, and the dashboard asks only for families the panel exports
(here from the panel's own definitions; tests/cluster_app/metrics/test_live.py checks the same
against a live scrape)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from cluster_app.metrics import families as cluster_families
from cluster_app.metrics.registry import COLLECTORS
from models_app.downloads import metrics as download_families
from models_app.usage import metrics as proxy_families

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}


def dashboard() -> dict:
    return json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())


def dashboard_metric_names() -> set[str]:
    """Every arthur_ name the dashboard's queries read."""
    expressions = [target["expr"] for panel in dashboard()["panels"]
                   for target in panel.get("targets", [])]
    assert expressions
    return {name for expr in expressions for name in re.findall(r"\barthur_\w+", expr)}


def exported_names() -> set[str]:
    metrics = [metric for module in (cluster_families, proxy_families, download_families)
               for value in vars(module).values() if isinstance(value, MetricWrapperBase)
               for metric in value.describe()]
    metrics += [metric for collector in COLLECTORS for metric in collector.collect()]
    return {metric.name + suffix for metric in metrics for suffix in SUFFIXES[metric.type]}


@pytest.mark.django_db
def test_the_dashboard_reads_only_what_the_panel_exports():
    names = dashboard_metric_names()
    assert {"arthur_node_memory_used_bytes", "arthur_proxy_first_token_seconds_bucket",
            "arthur_link_up", "arthur_log_lines_total"} <= names
    assert names - exported_names() == set()


def test_the_dashboard_draws_the_guides_panels():
    titles = {panel["title"] for panel in dashboard()["panels"]}
    assert {"Node memory (the guide's 92% limit)", "Tokens per second", "First token p50 / p95",
            "Requests by status", "Jobs", "Downloads", "JACCL errors", "RDMA links"} <= titles
    (memory,) = [p for p in dashboard()["panels"] if p["title"].startswith("Node memory")]
    steps = memory["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [step["value"] for step in steps] == [None, 0.7, 0.92]


def test_the_scrape_config_points_at_metrics_with_a_bearer_token_file():
    config = yaml.safe_load((ROOT / "docs" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"] == {"type": "Bearer",
                                    "credentials_file": job["authorization"]["credentials_file"]}
    assert job["authorization"]["credentials_file"].startswith("/")
    assert job["static_configs"][0]["targets"]
