"""Per-node exo.log files in exo's line format, with the lines a JACCL view looks for."""

from __future__ import annotations

import json
import re

from simulators.exo.testing import RunningSim

DEEPSEEK = "mlx-community/DeepSeek-V3.1-4bit"
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
LINE = re.compile(
    r"^\[ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| (INFO    |WARNING |ERROR   ) \| "
    r"exo(\.\w+)+:\w+:\d+ \] .+$"
)


def log(sim: RunningSim, name: str) -> str:
    return sim.cluster.logbook.path_for(name).read_text()


def test_each_node_logs_to_its_own_file_in_exos_format(exo_sim: RunningSim) -> None:
    alpha_path = exo_sim.cluster.logbook.path_for("ALPHA")
    assert alpha_path.parts[-2:] == ("alpha", "exo.log")
    assert exo_sim.cluster.logbook.path_for("BETA").parts[-2:] == ("beta", "exo.log")
    exo_sim.load(LLAMA_1B)
    for name in ("ALPHA", "BETA"):
        lines = log(exo_sim, name).splitlines()
        assert lines
        for line in lines:
            assert LINE.match(line), line
    alpha = log(exo_sim, "ALPHA")
    assert re.search(r"\| INFO     \| exo\.main:main_inner:339 \] pid = \d+$", alpha, re.MULTILINE)
    assert f"Starting exo on alpha.local with node id {exo_sim.node_id('ALPHA')}" in alpha


def test_jaccl_instance_writes_the_distributed_init_lines(exo_sim: RunningSim) -> None:
    instance = exo_sim.load(DEEPSEEK, "Tensor", "MlxJaccl", 2)
    body = instance["MlxJacclInstance"]
    devices = json.dumps(body["jacclDevices"])
    for rank, name in enumerate(("ALPHA", "BETA")):
        text = log(exo_sim, name)
        assert re.search(
            rf"rank {rank} MLX_IBV_DEVICES: /tmp/tmp\w+/hosts_{body['instanceId']}_{rank}\.json "
            rf"with devices: {re.escape(devices)}", text)
        coordinator = body["jacclCoordinators"][exo_sim.node_id(name)]
        assert f"rank {rank} MLX_JACCL_COORDINATOR: {coordinator}" in text
        assert f"Rank {rank} mlx distributed initialization complete" in text
        assert f"Group size: 2, group rank: {rank}" in text
        assert (f"loading model from /Users/{name.lower()}/.exo/models/"
                "mlx-community--DeepSeek-V3.1-4bit with tensor parallelism") in text
    assert devices == '[[null, "rdma_en3"], ["rdma_en4", null]]'


def test_ring_instance_does_not_write_jaccl_lines(exo_sim: RunningSim) -> None:
    exo_sim.load(DEEPSEEK, "Pipeline", "MlxRing", 2)
    text = log(exo_sim, "BETA")
    assert "MLX_IBV_DEVICES" not in text
    assert "with pipeline parallelism" in text


def test_placement_download_and_chat_are_logged(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/place_instance", json={"model_id": LLAMA_1B})
    (instance,) = exo_sim.state("/instances").values()
    exo_sim.wait_for(lambda: exo_sim.ready(instance))
    exo_sim.client.post("/v1/chat/completions", json={
        "model": LLAMA_1B, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
    alpha = exo_sim.node_id("ALPHA")
    exo_sim.client.delete(f"/download/{alpha}/{DEEPSEEK}")
    text = log(exo_sim, "ALPHA")
    assert f"Placed {LLAMA_1B} as MlxRingInstance" in text
    assert re.search(rf"Text generation [0-9a-f-]+ for {re.escape(LLAMA_1B)}", text)
    assert "Generated 3 tokens at" in text
    assert "Deleted /Users/alpha/.exo/models/mlx-community--DeepSeek-V3.1-4bit" in text
