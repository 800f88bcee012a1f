"""The download routes and /state.downloads entries moving over time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulators.exo.catalogue import CATALOGUE
from simulators.exo.placement import shard
from simulators.exo.testing import RunningSim

QWEN = "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit"
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
QWEN_BYTES = CATALOGUE[QWEN].storage_bytes


def entry(sim: RunningSim, name: str, model_id: str) -> tuple[str, dict[str, Any]]:
    for item in sim.state(f"/downloads/{sim.node_id(name)}"):
        ((tag, fields),) = item.items()
        if fields["shardMetadata"]["PipelineShardMetadata"]["modelCard"]["modelId"] == model_id:
            return tag, fields
    raise AssertionError(f"{model_id} not listed")


def start(sim: RunningSim, name: str, model_id: str) -> None:
    card = CATALOGUE[model_id]
    response = sim.client.post("/download/start", json={
        "targetNodeId": sim.node_id(name),
        "shardMetadata": shard(card, "Pipeline", 0, 1, 0, card.n_layers)})
    assert response.status_code == 200
    assert set(response.json()) == {"commandId"}


def test_every_catalogue_model_has_an_entry_per_node(exo_sim: RunningSim) -> None:
    downloads = exo_sim.state("/downloads")
    assert set(downloads) == {exo_sim.node_id("ALPHA"), exo_sim.node_id("BETA")}
    for items in downloads.values():
        assert len(items) == len(CATALOGUE)
    tag, fields = entry(exo_sim, "BETA", LLAMA_1B)
    assert tag == "DownloadCompleted"
    assert fields["total"] == {"inBytes": CATALOGUE[LLAMA_1B].storage_bytes}
    assert fields["readOnly"] is False
    assert fields["nodeId"] == exo_sim.node_id("BETA")
    assert fields["modelDirectory"] == (
        "/Users/beta/.exo/models/mlx-community--Llama-3.2-1B-Instruct-4bit")
    tag, fields = entry(exo_sim, "BETA", QWEN)
    assert tag == "DownloadPending"
    assert fields["downloaded"] == {"inBytes": 0} and fields["total"] == {"inBytes": QWEN_BYTES}


def test_download_goes_ongoing_then_completed(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/settings", json={"speed": 1.0})  # 800 MB/s: about 25 s for Qwen
    start(exo_sim, "BETA", QWEN)
    _, fields = exo_sim.wait_for(
        lambda: (e := entry(exo_sim, "BETA", QWEN))[0] == "DownloadOngoing"
        and e[1]["downloadProgress"]["downloaded"]["inBytes"] > 0 and e)
    progress = fields["downloadProgress"]
    assert set(progress) == {"total", "downloaded", "downloadedThisSession", "completedFiles",
                             "totalFiles", "speed", "etaMs", "files"}
    assert progress["total"] == {"inBytes": QWEN_BYTES}
    assert progress["totalFiles"] == 4 == len(progress["files"])
    assert progress["speed"] > 0 and progress["etaMs"] > 0
    first_file = progress["files"]["model-00001-of-00004.safetensors"]
    assert first_file["totalFiles"] == 1 and first_file["downloaded"]["inBytes"] > 0
    later = exo_sim.wait_for(
        lambda: (e := entry(exo_sim, "BETA", QWEN))[0] == "DownloadOngoing"
        and e[1]["downloadProgress"]["downloaded"]["inBytes"]
        > progress["downloaded"]["inBytes"] and e)
    assert later[1]["downloadProgress"]["downloadedThisSession"]["inBytes"] > 0
    exo_sim.client.post("/_sim/settings", json={"speed": 100})
    exo_sim.wait_for(lambda: entry(exo_sim, "BETA", QWEN)[0] == "DownloadCompleted")
    ids = [m["id"] for m in exo_sim.client.get("/models?status=downloaded").json()["data"]]
    assert QWEN in ids


def test_cancel_pauses_and_keeps_the_bytes(exo_sim: RunningSim) -> None:
    exo_sim.client.post("/_sim/settings", json={"speed": 1.0})
    start(exo_sim, "ALPHA", QWEN)
    exo_sim.wait_for(lambda: (e := entry(exo_sim, "ALPHA", QWEN))[0] == "DownloadOngoing"
                     and e[1]["downloadProgress"]["downloaded"]["inBytes"] > 0)
    response = exo_sim.client.post("/download/cancel", json={
        "targetNodeId": exo_sim.node_id("ALPHA"), "modelId": QWEN})
    assert response.status_code == 200
    tag, fields = entry(exo_sim, "ALPHA", QWEN)
    assert tag == "DownloadPending"
    kept = fields["downloaded"]["inBytes"]
    assert 0 < kept < QWEN_BYTES
    start(exo_sim, "ALPHA", QWEN)  # resumes from where it stopped
    tag, fields = exo_sim.wait_for(lambda: (e := entry(exo_sim, "ALPHA", QWEN))[0]
                                   == "DownloadOngoing" and e)
    assert fields["downloadProgress"]["downloaded"]["inBytes"] >= kept


def test_start_is_idempotent_for_completed_models(exo_sim: RunningSim) -> None:
    start(exo_sim, "ALPHA", LLAMA_1B)
    assert entry(exo_sim, "ALPHA", LLAMA_1B)[0] == "DownloadCompleted"


def test_delete_removes_the_files(exo_sim: RunningSim) -> None:
    alpha = exo_sim.node_id("ALPHA")
    response = exo_sim.client.delete(f"/download/{alpha}/{LLAMA_1B}")
    assert response.status_code == 200
    tag, fields = entry(exo_sim, "ALPHA", LLAMA_1B)
    assert tag == "DownloadPending" and fields["downloaded"] == {"inBytes": 0}
    assert entry(exo_sim, "BETA", LLAMA_1B)[0] == "DownloadCompleted"


def test_failed_download_reports_its_error(exo_sim: RunningSim) -> None:
    response = exo_sim.client.post("/_sim/downloads/fail", json={
        "node": "BETA", "model_id": QWEN, "message": "HTTP 401 from the hub"})
    assert response.status_code == 200
    tag, fields = entry(exo_sim, "BETA", QWEN)
    assert tag == "DownloadFailed"
    assert fields["errorMessage"] == "HTTP 401 from the hub"


def test_download_routes_reject_bad_input(exo_sim: RunningSim) -> None:
    assert exo_sim.client.post("/download/start", json={}).status_code == 422
    assert exo_sim.client.post("/download/cancel", json={"modelId": QWEN}).status_code == 422
    unknown_node = exo_sim.client.post("/download/cancel", json={
        "targetNodeId": "nobody", "modelId": QWEN})
    assert unknown_node.status_code == 404
    alpha = exo_sim.node_id("ALPHA")
    assert exo_sim.client.delete(f"/download/{alpha}/nope/nope").status_code == 404
    shapeless = exo_sim.client.post("/download/start", json={
        "targetNodeId": alpha, "shardMetadata": {"PipelineShardMetadata": {}}})
    assert shapeless.status_code == 400


def test_models_already_in_the_models_dir_count_as_downloaded(
    make_exo_sim: Callable[..., RunningSim], tmp_path: Path,
) -> None:
    (tmp_path / "models" / "alpha" / "mlx-community--Qwen2.5-Coder-32B-Instruct-4bit").mkdir(
        parents=True)
    sim = make_exo_sim(models_base=tmp_path / "models")
    tag, fields = entry(sim, "ALPHA", QWEN)
    assert tag == "DownloadCompleted"
    assert fields["modelDirectory"] == str(
        tmp_path / "models" / "alpha" / "mlx-community--Qwen2.5-Coder-32B-Instruct-4bit")
    assert entry(sim, "BETA", QWEN)[0] == "DownloadPending"
