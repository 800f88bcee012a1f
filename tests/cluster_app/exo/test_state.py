"""The /state normaliser on both of exo's shapes, recorded under tests/fixtures/."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cluster_app.exo.state import RDMA, TCP, normalise

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
GIB = 1024**3


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"exo_state_{name}.json").read_text())


@pytest.fixture
def current() -> dict:
    return load("current")


def by_name(view):
    return {node.friendly_name: node for node in view.nodes}


def test_current_shape_nodes(current):
    view = normalise(current)
    assert view.shape == "current"
    nodes = by_name(view)
    assert set(nodes) == {"ALPHA", "BETA"}
    alpha = nodes["ALPHA"]
    memory = current["nodeMemory"][alpha.node_id]
    assert alpha.ram_total == 512 * GIB == memory["ramTotal"]["inBytes"]
    assert alpha.ram_used == memory["ramTotal"]["inBytes"] - memory["ramAvailable"]["inBytes"]
    assert alpha.chip == "Apple M3 Ultra" and alpha.model == "Mac Studio"
    assert alpha.rdma_enabled is True and alpha.rdma_interfaces == ["rdma_en3"]
    assert alpha.gpu_usage == current["nodeSystem"][alpha.node_id]["gpuUsage"]
    assert alpha.disk_total == current["nodeDisk"][alpha.node_id]["total"]["inBytes"]
    assert alpha.last_seen == current["lastSeen"][alpha.node_id]


def test_current_shape_links_both_kinds(current):
    view = normalise(current)
    nodes = by_name(view)
    alpha, beta = nodes["ALPHA"].node_id, nodes["BETA"].node_id
    rdma = [link for link in view.links if link.kind == RDMA and link.source == alpha]
    assert [(link.sink, link.source_interface, link.sink_interface)
            for link in rdma] == [(beta, "rdma_en3", "rdma_en4")]
    tcp = [link for link in view.links if link.kind == TCP and link.source == alpha]
    assert tcp[0].sink == beta and tcp[0].address.startswith("/ip4/")


def test_current_shape_instances(current):
    instances = {i.model_id: i for i in normalise(current).instances}
    deepseek = instances["mlx-community/DeepSeek-V3-4bit"]
    assert (deepseek.backend, deepseek.sharding) == ("MlxJaccl", "Tensor")
    assert len(deepseek.node_ids) == 2 and deepseek.status == "loading"
    assert deepseek.storage_bytes == 405_874_409_472 and deepseek.n_layers == 61
    llama = instances["mlx-community/Llama-3.2-1B-Instruct-4bit"]
    assert (llama.backend, llama.sharding, len(llama.node_ids)) == ("MlxRing", "Pipeline", 1)
    assert 0 <= llama.layers_loaded <= llama.layers_total == 16


def test_downloads_are_read_with_status_and_bytes(current):
    downloads = normalise(current).downloads
    assert downloads
    assert {d.status for d in downloads} <= {"pending", "ongoing", "completed", "failed"}
    completed = [d for d in downloads if d.status == "completed"]
    assert completed and all(d.downloaded == d.total > 0 for d in completed)


def runner_state(tag: str, body: dict) -> dict:
    return {tag: body}


@pytest.mark.parametrize(
    ("tag", "body", "status"),
    [("RunnerIdle", {}, "starting"), ("RunnerConnecting", {}, "starting"),
     ("RunnerConnected", {}, "starting"),
     ("RunnerLoading", {"layersLoaded": 5, "totalLayers": 16}, "loading"),
     ("RunnerLoaded", {}, "loading"), ("RunnerWarmingUp", {}, "loading"),
     ("RunnerReady", {}, "ready"), ("RunnerRunning", {}, "ready"),
     ("RunnerShuttingDown", {}, "stopping"), ("RunnerShutdown", {}, "stopping"),
     ("RunnerFailed", {"errorMessage": "Runner terminated with signal=11"}, "failed")],
)
def test_every_runner_state(current, tag, body, status):
    state = copy.deepcopy(current)
    llama_id = next(i for i, tagged in state["instances"].items()
                    if "Llama" in json.dumps(tagged))
    runner_id = next(iter(next(iter(state["instances"][llama_id].values()))
                          ["shardAssignments"]["nodeToRunner"].values()))
    state["runners"][runner_id] = runner_state(tag, body)
    instance = next(i for i in normalise(state).instances if i.instance_id == llama_id)
    assert instance.runners[0].state == tag.removeprefix("Runner")
    assert instance.status == status
    if tag == "RunnerLoading":
        assert instance.layers_loaded == 5
    if tag == "RunnerFailed":
        assert instance.error == "Runner terminated with signal=11"


def test_a_dropped_node_disappears_with_its_instances(current):
    state = copy.deepcopy(current)
    beta = by_name(normalise(state))["BETA"].node_id
    for key in ("nodeIdentities", "nodeMemory", "nodeDisk", "nodeSystem", "nodeNetwork",
                "nodeThunderbolt", "nodeRdmaCtl", "lastSeen"):
        state[key].pop(beta, None)
    state["topology"]["nodes"].remove(beta)
    state["topology"]["connections"] = {}
    state["instances"] = {i: t for i, t in state["instances"].items() if beta not in json.dumps(t)}
    view = normalise(state)
    assert set(by_name(view)) == {"ALPHA"}
    assert view.links == []
    assert all(beta not in instance.node_ids for instance in view.instances)


def test_rdma_disabled_is_read(current):
    state = copy.deepcopy(current)
    alpha = by_name(normalise(state))["ALPHA"].node_id
    state["nodeRdmaCtl"][alpha] = {"enabled": False}
    assert by_name(normalise(state))["ALPHA"].rdma_enabled is False


def test_the_links_of_a_topology_seen_last_are_not_read_again(current):
    first = normalise(current)
    assert normalise(copy.deepcopy(current)).links is first.links
    changed = copy.deepcopy(current)
    for sinks in changed["topology"]["connections"].values():
        for sink, edges in sinks.items():
            sinks[sink] = [edge for edge in edges if "sourceRdmaIface" not in edge]
    without_rdma = normalise(changed).links
    assert {link.kind for link in without_rdma} == {TCP}
    assert normalise(current).links == first.links
    assert RDMA in {link.kind for link in first.links}


def test_legacy_shape():
    view = normalise(load("legacy"))
    assert view.shape == "legacy"
    nodes = by_name(view)
    assert nodes["ALPHA"].ram_total == 512 * GIB and nodes["BETA"].ram_total == 256 * GIB
    assert nodes["ALPHA"].ram_used == 512 * GIB - 480_000_000_000
    assert nodes["ALPHA"].temperature == 41.5 and nodes["ALPHA"].addresses[0] == "192.168.1.10"
    assert {(link.kind, link.address) for link in view.links} == {
        (TCP, "/ip4/192.168.1.20/tcp/52415"), (TCP, "/ip4/192.168.1.10/tcp/52415")}
    (instance,) = view.instances
    assert (instance.model_id, instance.status, instance.layers_loaded) == (
        "llama-3.2-1b", "ready", 16)


def test_empty_state_is_an_empty_cluster():
    view = normalise({})
    assert (view.nodes, view.links, view.instances, view.downloads) == ([], [], [], [])


SAMPLE_STATES = sorted((FIXTURES / "exo_samples").glob("*/state_*.json"))


@pytest.mark.parametrize("path", SAMPLE_STATES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_sample_of_exos_own_json_is_read_whole(path):
    """exo's JSON of both versions: no node, link, instance, runner or download lost."""
    state = json.loads(path.read_text())
    view = normalise(state)
    assert view.shape == "current"
    assert {n.node_id for n in view.nodes} == set(state["topology"]["nodes"])
    assert {n.friendly_name for n in view.nodes} == {
        i["friendlyName"] for i in state["nodeIdentities"].values()}
    assert all(n.ram_total > 0 and n.disk_total for n in view.nodes)
    edges = [e for sinks in state["topology"]["connections"].values()
             for edges in sinks.values() for e in edges]
    assert len(view.links) == len(edges)
    assert {i.instance_id for i in view.instances} == set(state["instances"])
    runners = {r.runner_id: r for i in view.instances for r in i.runners}
    assert set(runners) == set(state["runners"])
    for runner_id, tagged in state["runners"].items():
        ((tag, body),) = tagged.items()
        assert runners[runner_id].state == tag.removeprefix("Runner")
        assert runners[runner_id].error == body.get("errorMessage")
    entries = [(node_id, next(iter(item.items()))) for node_id, items in state["downloads"].items()
               for item in items]
    assert [(d.node_id, d.status) for d in view.downloads] == [
        (node_id, tag.removeprefix("Download").lower()) for node_id, (tag, _) in entries]
    for download, (_, (_, body)) in zip(view.downloads, entries, strict=True):
        progress = body.get("downloadProgress") or body
        assert download.total == progress.get("total", {}).get("inBytes", download.total)
        assert download.model_id
