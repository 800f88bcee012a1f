"""The health checks' verdicts, exactly: both /state shapes, a missing node, exo down, memory
pressure at the guide's thresholds, ibv_devinfo's output, MLX facts, model files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cluster_app.exo.state import NodeView, normalise
from cluster_app.health import checks
from cluster_app.health.checks import FAIL, PASS, UNAVAILABLE, WARN, NeededModel, RunResult
from cluster_app.nodes.inventory import GUIDE_NODES
from cluster_app.nodes.live import InventoryNode

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
GIB = 1024**3
INVENTORY = [InventoryNode(n["name"], n["display_name"], n["hostname"], n["in_exo_cluster"], True)
             for n in GUIDE_NODES]
ALPHA, BETA, GAMMA = INVENTORY
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
DEEPSEEK = "mlx-community/DeepSeek-V3-4bit"

# `ibv_devinfo -d rdma_en3` on a Mac with RDMA enabled and the cable in (macOS prints no fw_ver),
# and a port down as a Linux driver prints it (with fw_ver).
IBV_ACTIVE = (FIXTURES / "ibv_devinfo_rdma_en3_active.txt").read_text()
IBV_DOWN = (FIXTURES / "ibv_devinfo_rdma_en4_port_down.txt").read_text()


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"exo_state_{name}.json").read_text())


def rdma(result: RunResult | None, *, node: InventoryNode = ALPHA, interface: str = "rdma_en3",
         program: str | None = "/usr/bin/ibv_devinfo") -> checks.Outcome:
    return checks.rdma_device(node=node, interface=interface, program=program,
                              command=[program or "ibv_devinfo", "-d", interface], result=result,
                              timeout=10.0,
                              looked_for=["/usr/bin/ibv_devinfo", "ibv_devinfo on PATH"])


# --- exo, nodes and memory --------------------------------------------------------------------

def test_exo_answering_passes_with_its_url_and_time():
    outcome = checks.exo_api(url="http://alpha.local:52415", error=None, elapsed_ms=12,
                             shape="current")
    assert (outcome.status, outcome.summary) == (
        PASS, "exo answers at http://alpha.local:52415 (12 ms)")
    assert outcome.evidence == {"url": "http://alpha.local:52415", "elapsed_ms": 12,
                                "state_shape": "current"}


def test_exo_down_fails_with_the_error_text_as_evidence():
    error = "exo at http://127.0.0.1:9 is not answering ([Errno 111] Connection refused)."
    outcome = checks.exo_api(url="http://127.0.0.1:9", error=error)
    assert (outcome.name, outcome.scope, outcome.status) == ("exo_api", "cluster", FAIL)
    assert outcome.summary == "exo is not answering at http://127.0.0.1:9"
    assert outcome.evidence == {"url": "http://127.0.0.1:9", "error": error}
    assert "Cluster page" in outcome.hint


@pytest.mark.parametrize("shape", ["current", "legacy"])
def test_the_guides_state_snippet_reads_both_shapes(shape):
    view = normalise(load(shape))
    outcome = checks.cluster_nodes(view, INVENTORY)
    assert outcome.status == PASS
    assert outcome.summary == "2 nodes: ALPHA 512 GB, BETA 256 GB"
    assert outcome.evidence["shape"] == shape
    # What the guide's python3 one-liner prints, line for line.
    assert outcome.evidence["lines"] == ["Nodes: 2", "  - ALPHA: 512 GB", "  - BETA: 256 GB"]
    assert outcome.evidence["expected"] == ["ALPHA", "BETA"]  # GAMMA is not an exo node
    assert outcome.evidence["missing"] == [] and outcome.evidence["unexpected"] == []


@pytest.mark.parametrize("shape", ["current", "legacy"])
def test_a_missing_node_fails_naming_it(shape):
    state = load(shape)
    beta = next(i for i, v in enumerate(normalise(state).nodes) if v.friendly_name == "BETA")
    view = normalise(state)
    del view.nodes[beta]
    outcome = checks.cluster_nodes(view, INVENTORY)
    assert outcome.status == FAIL
    assert outcome.summary == "BETA is not in exo's cluster (1 of 2 nodes)"
    assert outcome.evidence["missing"] == ["BETA"]
    assert outcome.evidence["lines"] == ["Nodes: 1", "  - ALPHA: 512 GB"]
    assert "Start exo on BETA" in outcome.hint


def test_both_nodes_missing_are_both_named():
    view = normalise(load("current"))
    view.nodes.clear()
    outcome = checks.cluster_nodes(view, INVENTORY)
    assert outcome.summary == "ALPHA and BETA are not in exo's cluster (0 of 2 nodes)"


def test_a_node_exo_knows_but_the_inventory_does_not_warns():
    state = load("current")
    extra = copy.deepcopy(next(iter(state["nodeIdentities"].values())))
    extra["friendlyName"] = "DELTA"
    state["nodeIdentities"]["delta-id"] = extra
    state["nodeMemory"]["delta-id"] = {"ramTotal": {"inBytes": 64 * GIB}}
    outcome = checks.cluster_nodes(normalise(state), INVENTORY)
    assert outcome.status == WARN
    assert outcome.summary == "exo reports node(s) not in the inventory: DELTA"
    assert outcome.evidence["lines"][-1] == "  - DELTA: 64 GB"


def node_view(used_gib: float, total_gib: float = 256, swap_gib: float = 0) -> NodeView:
    return NodeView("id", "BETA", ram_total=int(total_gib * GIB),
                    ram_available=int((total_gib - used_gib) * GIB),
                    swap_total=int(8 * GIB), swap_available=int((8 - swap_gib) * GIB))


@pytest.mark.parametrize(("used", "swap", "status", "summary"), [
    (100, 0, PASS, "BETA: 100 GB of 256 GB in use (39%); no swap"),
    (100, 0.5, PASS, "BETA: 100 GB of 256 GB in use (39%); 0.5 GB swap"),
    (179, 0, PASS, "BETA: 179 GB of 256 GB in use (70%); no swap"),  # 69.9%: inside the zone
    (180, 0, WARN, "BETA: 180 GB of 256 GB in use (70%), above the guide's 70% safe zone"),
    (100, 1, WARN, "BETA: 100 GB of 256 GB in use (39%), and 1 GB of swap in use"),
    (235, 0, WARN, "BETA: 235 GB of 256 GB in use (92%), above the guide's 70% safe zone"),
    (236, 0, FAIL, "BETA: 236 GB of 256 GB in use (92%), over the guide's 92% limit"),
    (250, 6, FAIL, "BETA: 250 GB of 256 GB in use (98%), over the guide's 92% limit"),
])
def test_memory_pressure_against_the_guides_thresholds(used, swap, status, summary):
    outcome = checks.memory_pressure(BETA, node_view(used, swap_gib=swap))
    assert (outcome.name, outcome.scope, outcome.status, outcome.summary) == (
        "memory_pressure", "beta", status, summary)
    assert outcome.evidence["thresholds"] == {"warn_fraction": 0.70, "fail_fraction": 0.92,
                                              "swap_warn_bytes": GIB}
    assert bool(outcome.hint) == (status != PASS)


def test_memory_of_the_recorded_state():
    view = normalise(load("current"))
    by_name = {v.friendly_name: v for v in view.nodes}
    alpha = checks.memory_pressure(ALPHA, by_name["ALPHA"])
    beta = checks.memory_pressure(BETA, by_name["BETA"])
    assert (alpha.status, alpha.summary) == (PASS, "ALPHA: 211 GB of 512 GB in use (41%); no swap")
    assert (beta.status, beta.summary) == (
        WARN, "BETA: 199 GB of 256 GB in use (78%), above the guide's 70% safe zone")


def test_memory_of_a_node_exo_does_not_report_is_not_checked():
    outcome = checks.memory_pressure(BETA, None)
    assert (outcome.status, outcome.summary) == (
        UNAVAILABLE, "Not checked: BETA is not in exo's state")
    zero = checks.memory_pressure(BETA, NodeView("id", "BETA"))
    assert zero.summary == "Not checked: exo reports no memory figures for BETA"


def test_overall_status():
    assert checks.overall([]) == "unknown"
    assert checks.overall([PASS, UNAVAILABLE]) == PASS
    assert checks.overall([PASS, WARN, UNAVAILABLE]) == WARN
    assert checks.overall([WARN, FAIL, PASS]) == FAIL


# --- which models each node needs ----------------------------------------------------------------

def test_needed_models_per_node_from_the_current_shape():
    view = normalise(load("current"))
    names = {v.node_id: v.friendly_name.lower() for v in view.nodes}
    assert checks.needed_models(view, names, {}) == {
        "alpha": [NeededModel(LLAMA_1B, LLAMA_1B), NeededModel(DEEPSEEK, DEEPSEEK)],
        "beta": [NeededModel(DEEPSEEK, DEEPSEEK)],
    }


def test_short_model_ids_of_the_older_shape_are_resolved_through_exos_catalogue():
    view = normalise(load("legacy"))
    names = {v.node_id: v.friendly_name.lower() for v in view.nodes}
    assert checks.needed_models(view, names, {"llama-3.2-1b": LLAMA_1B}) == {
        "alpha": [NeededModel("llama-3.2-1b", LLAMA_1B)]}
    assert checks.needed_models(view, names, {}) == {
        "alpha": [NeededModel("llama-3.2-1b", None)]}


# --- ibv_devinfo -----------------------------------------------------------------------------

def test_ibv_devinfo_output_is_parsed():
    (device,) = checks.parse_ibv_devinfo(IBV_DOWN)
    assert device["hca_id"] == "rdma_en4"
    assert device["fw_ver"] == "16.35.2000"
    assert device["transport"] == "InfiniBand (0)"
    assert device["ports"] == [{"port": 1, "state": "PORT_DOWN (1)", "max_mtu": "4096 (5)",
                                "active_mtu": "1024 (3)", "link_layer": "Ethernet"}]
    assert checks.parse_ibv_devinfo("No IB devices found\n") == []
    two = checks.parse_ibv_devinfo(IBV_ACTIVE + IBV_DOWN)
    assert [d["hca_id"] for d in two] == ["rdma_en3", "rdma_en4"]
    assert [len(d["ports"]) for d in two] == [1, 1]


def test_an_active_port_passes_with_its_facts():
    outcome = rdma(RunResult(0, IBV_ACTIVE))
    assert (outcome.name, outcome.scope, outcome.status) == ("rdma_device", "alpha", PASS)
    assert outcome.summary == "rdma_en3: PORT_ACTIVE"
    evidence = outcome.evidence
    assert evidence["hca_id"] == "rdma_en3" and evidence["fw_ver"] is None
    assert evidence["transport"] == "Thunderbolt (100)"
    assert evidence["ports"][0]["state"] == "PORT_ACTIVE (4)"
    assert evidence["command"] == ["/usr/bin/ibv_devinfo", "-d", "rdma_en3"]
    assert evidence["output"] == IBV_ACTIVE


def test_a_port_down_fails_with_the_cable_hint():
    outcome = rdma(RunResult(0, IBV_DOWN), node=BETA, interface="rdma_en4")
    assert (outcome.status, outcome.summary) == (FAIL, "rdma_en4: PORT_DOWN")
    assert outcome.evidence["fw_ver"] == "16.35.2000"
    assert "Thunderbolt 5 cable" in outcome.hint


def test_a_device_ibv_devinfo_does_not_know_fails():
    outcome = rdma(RunResult(255, "", "IB device 'rdma_en3' wasn't found\n"))
    assert outcome.status == FAIL
    assert outcome.summary == ("rdma_en3 not found by ibv_devinfo on ALPHA: "
                               "IB device 'rdma_en3' wasn't found")
    assert "rdma_ctl enable" in outcome.hint
    other = rdma(RunResult(0, IBV_DOWN))  # answers, but about another device
    assert other.summary == "rdma_en3 not found by ibv_devinfo on ALPHA: it lists rdma_en4"


def test_no_ibv_devinfo_is_not_available():
    outcome = rdma(None, program=None)
    assert (outcome.status, outcome.summary) == (UNAVAILABLE, "ibv_devinfo not found on ALPHA")
    assert outcome.evidence == {"looked_for": ["/usr/bin/ibv_devinfo", "ibv_devinfo on PATH"]}
    assert "IBV_DEVINFO_PATH" in outcome.hint


def test_ibv_devinfo_past_its_timeout_fails():
    outcome = rdma(RunResult(None, "", "", timed_out=True))
    assert (outcome.status, outcome.summary) == (
        FAIL, "ibv_devinfo -d rdma_en3 did not finish within 10 s")


def test_a_node_without_an_rdma_interface_is_not_checked():
    outcome = rdma(None, node=GAMMA, interface="")
    assert (outcome.status, outcome.summary) == (
        UNAVAILABLE, "Not checked: no RDMA interface is set for GAMMA in the inventory")


# --- MLX -------------------------------------------------------------------------------------

def test_metal_available_passes():
    facts = {"mlx_version": "0.32.4", "metal_available": True, "default_device": "Device(gpu, 0)",
             "device_info": {"device_name": "Apple M3 Ultra", "memory_size": 512 * GIB}}
    outcome = checks.mlx(node=ALPHA, facts=facts, error=None)
    assert (outcome.status, outcome.summary) == (
        PASS, "Metal available: Apple M3 Ultra, 512 GB; MLX 0.32.4")
    assert outcome.evidence == facts


def test_no_metal_is_a_warning_with_the_facts_never_a_pass():
    facts = {"mlx_version": "0.32.4", "metal_available": False, "default_device": "Device(cpu, 0)",
             "device_info": {"architecture": "x86_64"}}
    outcome = checks.mlx(node=BETA, facts=facts, error=None)
    assert (outcome.status, outcome.summary) == (
        WARN, "Metal is not available on BETA: MLX 0.32.4 runs on Device(cpu, 0) only")
    assert outcome.evidence == facts and "Apple silicon" in outcome.hint


def test_mlx_that_cannot_load_fails_with_the_error():
    outcome = checks.mlx(node=ALPHA, facts=None, error="ModuleNotFoundError: No module named 'mlx'")
    assert (outcome.status, outcome.summary) == (FAIL, "MLX could not be loaded on ALPHA")
    assert outcome.evidence == {"error": "ModuleNotFoundError: No module named 'mlx'"}


# --- model files -----------------------------------------------------------------------------

def present(path: str) -> dict:
    return {"path": path, "exists": True, "config": True, "weights": ["model.safetensors"],
            "weight_bytes": 10, "missing": []}


def test_model_files_present_pass():
    outcome = checks.model_files(node=ALPHA, needed=[NeededModel(LLAMA_1B, LLAMA_1B)],
                                 why_unknown="", found={LLAMA_1B: present("/m/x")})
    assert (outcome.status, outcome.summary) == (PASS, f"Present on ALPHA: {LLAMA_1B}")
    assert outcome.evidence["models"] == [{"model_id": LLAMA_1B, "repo_id": LLAMA_1B,
                                           **present("/m/x")}]


@pytest.mark.parametrize(("seen", "problem"), [
    ({"path": "/m/d", "exists": False}, f"{DEEPSEEK}: no directory /m/d"),
    ({**present("/m/d"), "weights": []}, f"{DEEPSEEK}: no weight files in /m/d"),
    ({**present("/m/d"), "missing": ["model-00002-of-00002.safetensors"]},
     f"{DEEPSEEK}: 1 weight file(s) missing"),
    ({**present("/m/d"), "config": False}, f"{DEEPSEEK}: no config.json"),
])
def test_incomplete_model_files_fail(seen, problem):
    needed = [NeededModel(LLAMA_1B, LLAMA_1B), NeededModel(DEEPSEEK, DEEPSEEK)]
    outcome = checks.model_files(node=BETA, needed=needed, why_unknown="",
                                 found={LLAMA_1B: present("/m/x"), DEEPSEEK: seen})
    assert outcome.status == FAIL
    assert outcome.summary == f"1 of 2 model(s) incomplete on BETA: {problem}"
    assert outcome.evidence["problems"] == [problem]
    assert "Downloads page" in outcome.hint


def test_model_files_with_nothing_loaded_or_unknown():
    nothing = checks.model_files(node=ALPHA, needed=[], why_unknown="", found={})
    assert (nothing.status, nothing.summary) == (PASS, "No loaded model has a shard on ALPHA")
    unknown = checks.model_files(node=ALPHA, needed=None, why_unknown="exo is down", found={})
    assert (unknown.status, unknown.summary) == (UNAVAILABLE, "Not checked: exo is down")
    unnamed = checks.model_files(node=ALPHA, needed=[NeededModel("llama-3.2-1b", None)],
                                 why_unknown="", found={})
    assert unnamed.status == FAIL
    assert unnamed.evidence["problems"] == ["llama-3.2-1b: exo does not say which repository it is"]


def test_a_silent_worker_fails_every_node_check():
    outcomes = checks.no_answer(BETA, "node.beta.control", 30.0)
    assert [(o.name, o.scope, o.status) for o in outcomes] == [
        ("rdma_device", "beta", FAIL), ("mlx", "beta", FAIL), ("model_files", "beta", FAIL)]
    assert {o.summary for o in outcomes} == {"No worker answered on node.beta.control within 30 s"}
    assert "WORKER_NODES=beta" in outcomes[0].hint
