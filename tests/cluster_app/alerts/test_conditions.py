"""Each rule's condition: the facts in, exactly the subjects (and what is said of them) out."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from cluster_app.alerts import conditions as c
from cluster_app.alerts.conditions import (
    GIB,
    Facts,
    Finding,
    HealthFacts,
    JobFacts,
    LinkFacts,
    LogFacts,
    NodeFacts,
    RunnerFacts,
)
from cluster_app.exo.state import RDMA, TCP

ALPHA = NodeFacts("alpha", "ALPHA", True, True, "online", ram_used=100 * GIB,
                  ram_total=512 * GIB, swap_used=0, disk_free=4000 * GIB, worker_online=True)
BETA = NodeFacts("beta", "BETA", True, True, "online", ram_used=50 * GIB, ram_total=256 * GIB,
                 swap_used=0, disk_free=2000 * GIB, worker_online=True)
GAMMA = NodeFacts("gamma", "GAMMA", False, False, "unmonitored", worker_online=True)
HEALTHY = Facts(exo_reachable=True, nodes=(ALPHA, BETA, GAMMA),
                links=(LinkFacts("alpha", "beta", RDMA), LinkFacts("beta", "alpha", TCP)),
                largest_model=("DeepSeek V3 8-bit", 712 * GIB), node_offline_seconds=30)


@pytest.mark.parametrize("rule", c.DEFAULTS, ids=lambda rule: rule.key)
def test_a_healthy_cluster_fires_no_rule(rule):
    assert rule.condition(HEALTHY, rule.threshold) == {}


def with_beta(**changes: object) -> Facts:
    return replace(HEALTHY, nodes=(ALPHA, replace(BETA, **changes), GAMMA))


def test_node_offline_names_each_offline_exo_node():
    facts = with_beta(status="offline", status_reason="not in exo's cluster state")
    assert c.node_offline(facts, None) == {"beta": Finding(
        "BETA is offline: not in exo's cluster state (silent over 30 s)", {"node": "beta"},
        "Is BETA awake and is exo running on it? Start it from the Cluster page.")}


def test_node_offline_says_the_threshold_when_one_is_set():
    facts = with_beta(status="offline")
    assert c.node_offline(facts, 5)["beta"].summary == "BETA is offline: not seen (silent over 5 s)"


def test_node_offline_leaves_nodes_outside_exo_and_waits_while_exo_is_unreachable():
    assert c.node_offline(replace(HEALTHY, nodes=(replace(GAMMA, status="offline"),)), None) == {}
    unreachable = replace(with_beta(status="offline"), exo_reachable=False)
    assert c.node_offline(unreachable, None) == {}
    assert c.node_offline(replace(unreachable, exo_reachable=None), None) == {}


def test_worker_silent_names_nodes_whose_worker_stopped_beating_gamma_too():
    facts = replace(HEALTHY, nodes=(ALPHA, BETA, replace(GAMMA, worker_online=False)))
    assert list(c.worker_silent(facts, None)) == ["gamma"]
    assert c.worker_silent(facts, None)["gamma"].summary == \
        "GAMMA's worker is silent: jobs for it wait"


def test_memory_warning_at_the_safe_zone_and_critical_at_the_limit():
    at_70 = with_beta(ram_used=math.ceil(256 * GIB * 0.70))
    assert list(c.memory_warning(at_70, 0.70)) == ["beta"]
    assert c.memory_warning(at_70, 0.70)["beta"].summary == \
        "BETA's memory is at 70% (limit 70%)"
    assert c.memory_critical(at_70, 0.92) == {}
    below = with_beta(ram_used=math.ceil(256 * GIB * 0.70) - 1)
    assert c.memory_warning(below, 0.70) == {}
    at_92 = with_beta(ram_used=math.ceil(256 * GIB * 0.92))
    assert list(c.memory_critical(at_92, 0.92)) == ["beta"]
    assert list(c.memory_critical(at_92, None)) == ["beta"]  # the guide's limit by default
    assert c.memory_critical(at_92, 0.95) == {}


def test_memory_rules_leave_offline_nodes_and_unknown_figures():
    assert c.memory_critical(with_beta(ram_used=256 * GIB, status="offline"), 0.92) == {}
    assert c.memory_critical(with_beta(ram_used=None), 0.92) == {}
    assert c.memory_critical(with_beta(ram_total=0), 0.92) == {}


def test_swap_in_use_over_the_threshold_in_gib():
    facts = with_beta(swap_used=2 * GIB)
    assert c.swap_in_use(facts, 0.0) == {"beta": Finding(
        "BETA is swapping: 2.0 GB of swap in use", {"node": "beta"}, c.MEMORY_HINT)}
    assert c.swap_in_use(facts, 2.0) == {}
    assert list(c.swap_in_use(facts, 1.5)) == ["beta"]
    assert c.swap_in_use(with_beta(swap_used=None), 0.0) == {}


def test_rdma_tcp_only_names_the_pair_linked_by_tcp_alone():
    facts = replace(HEALTHY, links=(LinkFacts("beta", "alpha", TCP),
                                    LinkFacts("alpha", "beta", TCP)))
    assert c.rdma_tcp_only(facts, None) == {"alpha-beta": Finding(
        "RDMA expected between alpha and beta, but the link is TCP only",
        {"pair": "alpha-beta"}, c.TCP_HINT)}


def test_rdma_tcp_only_leaves_pairs_not_expecting_rdma_or_with_a_node_down():
    tcp = (LinkFacts("alpha", "beta", TCP),)
    assert c.rdma_tcp_only(replace(with_beta(expects_rdma=False), links=tcp), None) == {}
    assert c.rdma_tcp_only(replace(with_beta(status="offline"), links=tcp), None) == {}
    assert c.rdma_tcp_only(replace(HEALTHY, links=()), None) == {}


def test_jaccl_errors_name_the_node_with_the_lines_hint_or_the_guides():
    lines = (LogFacts("beta", "[jaccl] connect failed errno=60", ("jaccl", "error"), 30.0,
                      "Reboot both Macs"),
             LogFacts("alpha", "[jaccl] recv error", ("jaccl", "error"), 10.0),
             LogFacts("alpha", "JACCL ready", ("jaccl",), 1.0),
             LogFacts("beta", "[jaccl] old error", ("jaccl", "error"), 700.0))
    found = c.jaccl_errors(replace(HEALTHY, log_lines=lines), 600.0)
    assert found == {
        "beta": Finding("JACCL error on beta: [jaccl] connect failed errno=60",
                        {"node": "beta"}, "Reboot both Macs"),
        "alpha": Finding("JACCL error on alpha: [jaccl] recv error", {"node": "alpha"},
                         c.JACCL_HINT)}
    assert "ibv_devinfo -d rdma_en4" in c.JACCL_HINT  # the guide's troubleshooting
    assert c.jaccl_errors(replace(HEALTHY, log_lines=lines), 5.0) == {}


def test_runner_failed_names_model_and_node():
    runners = (RunnerFacts("mlx-community/Llama-3.2-1B-Instruct-4bit", "beta", "Failed",
                           "OOM"),
               RunnerFacts("mlx-community/Llama-3.2-1B-Instruct-4bit", "alpha", "Ready"))
    found = c.runner_failed(replace(HEALTHY, runners=runners), None)
    assert list(found) == ["mlx-community/Llama-3.2-1B-Instruct-4bit@beta"]
    assert found["mlx-community/Llama-3.2-1B-Instruct-4bit@beta"].labels == {
        "model": "mlx-community/Llama-3.2-1B-Instruct-4bit", "node": "beta"}
    assert found["mlx-community/Llama-3.2-1B-Instruct-4bit@beta"].summary.endswith(": OOM")


def test_model_load_and_download_failed_within_their_window():
    jobs = (JobFacts("instance.load", "llama-3.2-1b", True, 60.0, "no placement", 7),
            JobFacts("instance.load", "deepseek-v3-4bit", False, 60.0, "", 8),
            JobFacts("model.download", "llama-3.2-1b@beta", True, 4000.0, "disk full", 9),
            JobFacts("model.download", "qwen@alpha", True, 10.0, "HTTP 500", 10))
    facts = replace(HEALTHY, jobs=jobs)
    assert c.model_load_failed(facts, 3600.0) == {"llama-3.2-1b": Finding(
        "Loading llama-3.2-1b failed: no placement", {"model": "llama-3.2-1b", "job": "7"},
        "The job's page has exo's message; the Planner says whether it fits.")}
    assert list(c.download_failed(facts, 3600.0)) == ["qwen@alpha"]
    assert c.download_failed(facts, 3600.0)["qwen@alpha"].labels == {
        "model": "qwen", "node": "alpha", "job": "10"}
    assert list(c.download_failed(facts, 5000.0)) == ["llama-3.2-1b@beta", "qwen@alpha"]


def test_health_failing_names_check_and_scope_with_its_hint():
    health = (HealthFacts("rdma", "beta", "fail", "no RDMA device", "rdma_ctl enable"),
              HealthFacts("exo", "cluster", "pass", "answers"),
              HealthFacts("mlx", "alpha", "warn", "old"))
    assert c.health_failing(replace(HEALTHY, health=health), None) == {"rdma@beta": Finding(
        "Health check rdma (beta) fails: no RDMA device", {"check": "rdma", "scope": "beta"},
        "rdma_ctl enable")}


def test_disk_low_below_the_largest_catalogue_model():
    facts = with_beta(disk_free=500 * GIB)
    assert c.disk_low(facts, 1.0) == {"beta": Finding(
        "BETA has 500 GB free, less than DeepSeek V3 8-bit (712 GB)", {"node": "beta"},
        "Delete models this node no longer needs from the Downloads page.")}
    assert c.disk_low(facts, 0.5) == {}
    assert c.disk_low(replace(facts, largest_model=None), 1.0) == {}


def test_exo_unreachable_only_when_the_poll_said_so():
    assert c.exo_unreachable(replace(HEALTHY, exo_reachable=False, exo_error="refused"),
                             None) == {"exo": Finding(
        "exo is unreachable: refused", {},
        "Start the cluster from the Cluster page (the guide's Step 2).")}
    assert c.exo_unreachable(replace(HEALTHY, exo_reachable=None), None) == {}


def test_every_rule_has_a_condition_and_a_unique_key():
    assert len({rule.key for rule in c.DEFAULTS}) == len(c.DEFAULTS) == len(c.CONDITIONS)
