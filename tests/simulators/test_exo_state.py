"""/node_id and /state: shapes, paths, topology, and readings that move over time."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from simulators.exo.config import parse_node
from simulators.exo.testing import RunningSim

LLAMA_8B = "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"

STATE_KEYS = {
    "instances", "runners", "downloads", "tasks", "lastSeen", "topology", "lastEventAppliedIdx",
    "nodeIdentities", "nodeMemory", "nodeDisk", "nodeSystem", "nodeNetwork", "nodeThunderbolt",
    "nodeThunderboltBridge", "nodeRdmaCtl", "thunderboltBridgeCycles",
}
MAIN_STATE_KEYS = {"nodeBackends", "instanceLinks", "prefillServerPorts", "customModelCards"}
# main: 16 random bytes in hex with leading zeros stripped (exo's get_node_zid).
MAIN_NODE_ID = re.compile(r"^[1-9a-f][0-9a-f]{0,31}$")
# 1.0.71: an ed25519 libp2p peer id.
PEER_ID = re.compile(r"^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$")
GIB = 2**30


def test_node_id_is_a_bare_json_string_naming_the_master(exo_sim: RunningSim) -> None:
    response = exo_sim.client.get("/node_id")
    assert response.status_code == 200
    assert response.text.startswith('"')
    node_id = response.json()
    assert MAIN_NODE_ID.match(node_id)
    assert node_id == exo_sim.node_id("ALPHA")


def test_release_node_ids_are_libp2p_peer_ids(make_exo_sim: Callable[..., RunningSim]) -> None:
    sim = make_exo_sim(exo_version="1.0.71")
    assert all(PEER_ID.match(node_id) for node_id in sim.state("/nodeIdentities"))


def test_main_node_ids_are_hex(exo_sim: RunningSim) -> None:
    ids = list(exo_sim.state("/nodeIdentities"))
    assert len(ids) == 2 and all(MAIN_NODE_ID.match(node_id) for node_id in ids)


def test_version_changes_at_run_time_like_a_restart_of_every_node(exo_sim: RunningSim) -> None:
    exo_sim.load(LLAMA_8B)
    response = exo_sim.client.post("/_sim/settings", json={"exo_version": "1.0.71"})
    assert response.json()["exo_version"] == "1.0.71"
    state = exo_sim.state()
    assert set(state) == STATE_KEYS and state["instances"] == {}
    assert sorted(i["friendlyName"] for i in state["nodeIdentities"].values()) == [
        "ALPHA", "BETA"]
    assert all(PEER_ID.match(node_id) for node_id in state["nodeIdentities"])
    assert exo_sim.client.post("/_sim/settings", json={"exo_version": "2"}).status_code == 422


def test_node_ids_are_new_at_every_start(make_exo_sim: Callable[..., RunningSim]) -> None:
    first, second = make_exo_sim(), make_exo_sim()
    assert first.node_id("ALPHA") != second.node_id("ALPHA")
    assert first.node_id("BETA") != second.node_id("BETA")


def test_state_has_every_top_level_key_of_its_version(
    make_exo_sim: Callable[..., RunningSim],
) -> None:
    state = make_exo_sim().state()
    assert set(state) == STATE_KEYS | MAIN_STATE_KEYS
    assert state["instances"] == {} and state["runners"] == {} and state["tasks"] == {}
    assert isinstance(state["lastEventAppliedIdx"], int)
    assert state["thunderboltBridgeCycles"] == []
    assert list(state["nodeBackends"].values()) == [["MlxCpu", "MlxMetal"]] * 2
    assert set(make_exo_sim(exo_version="1.0.71").state()) == STATE_KEYS


def test_default_nodes_are_the_guides_mac_studios(exo_sim: RunningSim) -> None:
    state = exo_sim.state()
    alpha, beta = exo_sim.node_id("ALPHA"), exo_sim.node_id("BETA")
    assert state["nodeIdentities"][alpha] == {
        "modelId": "Mac Studio", "chipId": "Apple M3 Ultra", "friendlyName": "ALPHA",
        "osVersion": "26.2", "osBuildVersion": "25C56",
    }
    assert state["nodeMemory"][alpha]["ramTotal"] == {"inBytes": 512 * GIB}
    assert state["nodeMemory"][beta]["ramTotal"] == {"inBytes": 256 * GIB}
    memory = state["nodeMemory"][beta]
    assert set(memory) == {"ramTotal", "ramAvailable", "swapTotal", "swapAvailable"}
    assert 0 < memory["ramAvailable"]["inBytes"] < memory["ramTotal"]["inBytes"]


def test_node_maps_have_documented_shapes(exo_sim: RunningSim) -> None:
    state = exo_sim.state()
    alpha, beta = exo_sim.node_id("ALPHA"), exo_sim.node_id("BETA")
    disk = state["nodeDisk"][alpha]
    assert 0 < disk["available"]["inBytes"] < disk["total"]["inBytes"]
    system = state["nodeSystem"][alpha]
    assert set(system) == {"gpuUsage", "temp", "sysPower", "pcpuUsage", "ecpuUsage"}
    assert 0 <= system["gpuUsage"] <= 1
    interfaces = state["nodeNetwork"][alpha]["interfaces"]
    assert {"name": "en0", "ipAddress": "192.168.1.10", "interfaceType": "ethernet"} in interfaces
    assert all(i["interfaceType"] in {"wifi", "ethernet", "maybe_ethernet", "thunderbolt",
                                      "unknown"} for i in interfaces)
    (alpha_tb,) = state["nodeThunderbolt"][alpha]["interfaces"]
    assert alpha_tb["rdmaInterface"] == "rdma_en3"
    assert set(alpha_tb) == {"rdmaInterface", "domainUuid", "linkSpeed"}
    assert state["nodeThunderbolt"][beta]["interfaces"][0]["rdmaInterface"] == "rdma_en4"
    assert state["nodeRdmaCtl"] == {alpha: {"enabled": True}, beta: {"enabled": True}}


def test_topology_has_tcp_edges_per_address_and_rdma_both_ways(exo_sim: RunningSim) -> None:
    state = exo_sim.state()
    topology = state["topology"]
    alpha, beta = exo_sim.node_id("ALPHA"), exo_sim.node_id("BETA")
    assert sorted(topology["nodes"]) == sorted([alpha, beta])
    forward = topology["connections"][alpha][beta]
    assert {"sourceRdmaIface": "rdma_en3", "sinkRdmaIface": "rdma_en4"} in forward
    assert {"sinkMultiaddr": {"address": "/ip4/192.168.1.20/tcp/52415", "address_type": "ip4",
                              "ip_address": "192.168.1.20", "port": 52415}} in forward
    tcp = [edge["sinkMultiaddr"] for edge in forward if "sinkMultiaddr" in edge]
    # One edge for every address of BETA that answers, IPv4 and IPv6, LAN and Thunderbolt.
    beta_addresses = [i["ipAddress"] for i in state["nodeNetwork"][beta]["interfaces"]
                      if i["name"] != "lo0"]
    assert [edge["ip_address"] for edge in tcp] == beta_addresses
    ipv6 = [edge for edge in tcp if edge["address_type"] == "ip6"]
    assert len(ipv6) == 1 and ipv6[0]["address"] == f"/ip6/{ipv6[0]['ip_address']}/tcp/52415"
    assert ipv6[0]["ip_address"].startswith("fe80::")
    backward = topology["connections"][beta][alpha]
    assert {"sourceRdmaIface": "rdma_en4", "sinkRdmaIface": "rdma_en3"} in backward
    assert len(backward) == len(forward) == 4


def test_rdma_edge_disappears_when_rdma_ctl_is_off(exo_sim: RunningSim) -> None:
    response = exo_sim.client.post("/_sim/nodes/BETA/rdma", json={"enabled": False})
    assert response.status_code == 200
    state = exo_sim.state()
    alpha, beta = exo_sim.node_id("ALPHA"), exo_sim.node_id("BETA")
    edges = state["topology"]["connections"][alpha][beta]
    assert [edge for edge in edges if "sourceRdmaIface" in edge] == []
    assert edges and all("sinkMultiaddr" in edge for edge in edges)
    assert state["nodeRdmaCtl"][beta] == {"enabled": False}


def test_friendly_name_is_the_macs_computer_name(make_exo_sim: Callable[..., RunningSim]
                                                 ) -> None:
    sim = make_exo_sim(nodes=[parse_node("ALPHA:512:friendly=Ada's Mac Studio", 0),
                              parse_node("BETA:256", 1)])
    names = {i["friendlyName"] for i in sim.state("/nodeIdentities").values()}
    assert names == {"Ada's Mac Studio", "BETA"}
    response = sim.client.post("/_sim/nodes/BETA/friendly-name",
                               json={"friendly_name": "studio-2"})
    assert response.status_code == 200
    assert response.json()["nodes"][1]["friendly_name"] == "studio-2"
    assert {i["friendlyName"] for i in sim.state("/nodeIdentities").values()} == {
        "Ada's Mac Studio", "studio-2"}
    assert sim.client.post("/_sim/nodes/GAMMA/friendly-name",
                           json={"friendly_name": "x"}).status_code == 404


def test_state_path_walks_into_the_state(exo_sim: RunningSim) -> None:
    alpha = exo_sim.node_id("ALPHA")
    memory = exo_sim.state(f"/nodeMemory/{alpha}")
    assert memory["ramTotal"] == {"inBytes": 512 * GIB}
    assert exo_sim.state(f"/nodeMemory/{alpha}/ramTotal/inBytes") == 512 * GIB
    assert exo_sim.state("/topology/nodes/0") in (alpha, exo_sim.node_id("BETA"))


def test_missing_state_path_is_exos_404(exo_sim: RunningSim) -> None:
    response = exo_sim.client.get("/state/nodeMemory/nobody")
    assert response.status_code == 404
    assert response.json() == {"error": {
        "message": "unable to find path 'nodeMemory.nobody' in state json",
        "type": "Not Found", "param": None, "code": 404,
    }}


def test_unknown_route_answers_in_exos_error_shape(exo_sim: RunningSim) -> None:
    response = exo_sim.client.get("/no/such/route")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "Not Found"
    assert exo_sim.client.delete("/node_id").json()["error"]["code"] == 405


def test_last_seen_is_iso_and_moves_for_live_nodes(exo_sim: RunningSim) -> None:
    alpha = exo_sim.node_id("ALPHA")
    before = datetime.fromisoformat(exo_sim.state("/lastSeen")[alpha])
    assert before.tzinfo is not None
    time.sleep(0.1)
    after = datetime.fromisoformat(exo_sim.state("/lastSeen")[alpha])
    assert after > before


def test_system_readings_vary_and_climb_while_generating(exo_sim: RunningSim) -> None:
    alpha = exo_sim.node_id("ALPHA")
    idle = []
    for _ in range(3):
        time.sleep(0.05)
        idle.append(exo_sim.state(f"/nodeSystem/{alpha}"))
    assert len({reading["sysPower"] for reading in idle}) > 1
    assert all(reading["gpuUsage"] < 0.3 for reading in idle)
    exo_sim.load(LLAMA_8B)
    exo_sim.client.post("/_sim/settings", json={"speed": 0.01})  # a long prefill keeps it busy
    with exo_sim.client.stream("POST", "/v1/chat/completions", json={
        "model": LLAMA_8B, "messages": [{"role": "user", "content": "hi"}], "stream": True,
    }) as stream:
        lines = stream.iter_lines()  # kept: dropping the iterator closes the response
        assert next(lines) == ": keep-alive"
        busy: dict[str, Any] = exo_sim.wait_for(
            lambda: (r := exo_sim.state(f"/nodeSystem/{alpha}"))["gpuUsage"] > 0.6 and r)
    assert busy["sysPower"] > 60 and busy["temp"] > 45


def test_event_index_counts_changes(exo_sim: RunningSim) -> None:
    first = exo_sim.state("/lastEventAppliedIdx")
    exo_sim.load("mlx-community/Llama-3.2-1B-Instruct-4bit")
    assert exo_sim.state("/lastEventAppliedIdx") > first


def test_custom_nodes_from_config(make_exo_sim: Callable[..., RunningSim]) -> None:
    gamma_spec = parse_node("GAMMA:128:ip=10.0.0.5,rdma=rdma_en9,chip=Apple M4 Max", 0)
    exo_sim = make_exo_sim(nodes=[gamma_spec])
    state = exo_sim.state()
    (gamma,) = state["nodeIdentities"]
    assert state["nodeIdentities"][gamma]["chipId"] == "Apple M4 Max"
    assert state["nodeMemory"][gamma]["ramTotal"]["inBytes"] == 128 * GIB
    assert state["nodeThunderbolt"][gamma]["interfaces"][0]["rdmaInterface"] == "rdma_en9"
    assert state["topology"]["connections"] == {}
