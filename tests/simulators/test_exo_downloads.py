"""/state.downloads as exo keeps it: every card on every node, shard downloads when an instance
is placed, the download routes, rescans of the models directories, and stale entries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulators.exo.catalogue import BUILT_IN
from simulators.exo.testing import RunningSim

LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
LLAMA_8B = "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"
LLAMA_70B = "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit"
LLAMA_8B_BYTES = BUILT_IN[LLAMA_8B].storage_bytes


def entry(sim: RunningSim, name: str, model_id: str) -> tuple[str, dict[str, Any]]:
    for item in sim.state(f"/downloads/{sim.node_id(name)}"):
        ((tag, fields),) = item.items()
        shard = next(iter(fields["shardMetadata"].values()))
        if shard["modelCard"]["modelId"] == model_id:
            return tag, fields
    raise AssertionError(f"{model_id} not listed")


def tag_of(sim: RunningSim, name: str, model_id: str) -> str:
    return entry(sim, name, model_id)[0]


def start(sim: RunningSim, name: str, model_id: str) -> None:
    pending = entry(sim, name, model_id)[1]
    response = sim.client.post("/download/start", json={
        "targetNodeId": sim.node_id(name), "shardMetadata": pending["shardMetadata"]})
    assert response.status_code == 200
    assert set(response.json()) == {"commandId"}


@pytest.fixture
def sim(make_exo_sim: Callable[..., RunningSim]) -> RunningSim:
    """The 8B model on no node; the others everywhere."""
    return make_exo_sim(downloaded={LLAMA_1B: [], LLAMA_70B: []})


def test_every_card_has_an_entry_per_node(exo_sim: RunningSim) -> None:
    downloads = exo_sim.state("/downloads")
    assert set(downloads) == {exo_sim.node_id("ALPHA"), exo_sim.node_id("BETA")}
    assert all(len(items) == len(BUILT_IN) for items in downloads.values())
    tag, fields = entry(exo_sim, "BETA", LLAMA_1B)
    assert tag == "DownloadCompleted"
    assert fields["total"] == {"inBytes": BUILT_IN[LLAMA_1B].storage_bytes}
    assert fields["readOnly"] is False
    assert fields["nodeId"] == exo_sim.node_id("BETA")
    assert fields["modelDirectory"] == (
        "/Users/beta/.exo/models/mlx-community--Llama-3.2-1B-Instruct-4bit")
    tag, fields = entry(exo_sim, "BETA", "mlx-community/DeepSeek-V3.1-8bit")
    assert tag == "DownloadPending"
    assert fields["downloaded"] == {"inBytes": 0}
    assert fields["total"] == {"inBytes": 765_577_920_512}


def test_placing_an_instance_downloads_each_nodes_shard_first(
    make_exo_sim: Callable[..., RunningSim],
) -> None:
    sim = make_exo_sim(downloaded={LLAMA_1B: []})
    sim.client.post("/_sim/settings", json={"speed": 0.5})  # 400 MB/s
    instance = sim.load(LLAMA_70B, "Pipeline", "MlxRing", 2, wait=False)
    runners = list(next(iter(instance.values()))["shardAssignments"]["nodeToRunner"].values())
    _, fields = sim.wait_for(lambda: (e := entry(sim, "BETA", LLAMA_70B))[0] == "DownloadOngoing"
                             and e[1]["downloadProgress"]["downloaded"]["inBytes"] > 0 and e)
    # While it downloads, the runners are up and idle.
    assert {next(iter(sim.state(f"/runners/{r}"))) for r in runners} == {"RunnerIdle"}
    shard = fields["shardMetadata"]["PipelineShardMetadata"]
    assert (shard["worldSize"], shard["deviceRank"], shard["endLayer"]) == (2, 1, 80)
    progress = fields["downloadProgress"]
    assert set(progress) == {"total", "downloaded", "downloadedThisSession", "completedFiles",
                             "totalFiles", "speed", "etaMs", "files"}
    # BETA's last 27 layers sit in the last three of the model's eight weight files.
    assert list(progress["files"]) == [f"model-0000{i}-of-00008.safetensors" for i in (6, 7, 8)]
    assert progress["totalFiles"] == 3
    assert progress["total"]["inBytes"] == sum(
        f["total"]["inBytes"] for f in progress["files"].values())
    first = progress["files"]["model-00006-of-00008.safetensors"]
    assert first["totalFiles"] == 1 and first["files"] == {} and first["downloaded"]["inBytes"]
    assert progress["speed"] > 0 and progress["etaMs"] > 0
    sim.client.post("/_sim/settings", json={"speed": 100})
    sim.wait_for(lambda: sim.ready(instance), timeout=10)
    tag, fields = entry(sim, "BETA", LLAMA_70B)
    assert tag == "DownloadCompleted" and fields["total"] == progress["total"]


def test_start_goes_ongoing_file_by_file_then_completed(sim: RunningSim) -> None:
    sim.client.post("/_sim/settings", json={"speed": 1.0})  # 800 MB/s: about 6 s for the 8B
    start(sim, "BETA", LLAMA_8B)
    _, fields = sim.wait_for(
        lambda: (e := entry(sim, "BETA", LLAMA_8B))[0] == "DownloadOngoing"
        and e[1]["downloadProgress"]["downloaded"]["inBytes"] > 0 and e)
    progress = fields["downloadProgress"]
    assert progress["total"] == {"inBytes": LLAMA_8B_BYTES}
    assert progress["completedFiles"] == 0 and progress["totalFiles"] == 1
    later = sim.wait_for(
        lambda: (e := entry(sim, "BETA", LLAMA_8B))[0] == "DownloadOngoing"
        and e[1]["downloadProgress"]["downloaded"]["inBytes"]
        > progress["downloaded"]["inBytes"] and e)
    assert later[1]["downloadProgress"]["downloadedThisSession"]["inBytes"] > 0
    sim.client.post("/_sim/settings", json={"speed": 100})
    sim.wait_for(lambda: tag_of(sim, "BETA", LLAMA_8B) == "DownloadCompleted")
    ids = [m["id"] for m in sim.client.get("/models?status=downloaded").json()["data"]]
    assert LLAMA_8B in ids


def test_cancel_pauses_and_keeps_the_bytes(sim: RunningSim) -> None:
    sim.client.post("/_sim/settings", json={"speed": 0.2})
    start(sim, "ALPHA", LLAMA_8B)
    sim.wait_for(lambda: (e := entry(sim, "ALPHA", LLAMA_8B))[0] == "DownloadOngoing"
                 and e[1]["downloadProgress"]["downloaded"]["inBytes"] > 0)
    response = sim.client.post("/download/cancel", json={
        "targetNodeId": sim.node_id("ALPHA"), "modelId": LLAMA_8B})
    assert response.status_code == 200
    tag, fields = entry(sim, "ALPHA", LLAMA_8B)
    assert tag == "DownloadPending"
    kept = fields["downloaded"]["inBytes"]
    assert 0 < kept < LLAMA_8B_BYTES
    start(sim, "ALPHA", LLAMA_8B)  # resumes from where it stopped
    _, fields = sim.wait_for(lambda: (e := entry(sim, "ALPHA", LLAMA_8B))[0]
                             == "DownloadOngoing" and e)
    assert fields["downloadProgress"]["downloaded"]["inBytes"] >= kept


def test_start_leaves_completed_and_failed_downloads_alone(exo_sim: RunningSim) -> None:
    start(exo_sim, "ALPHA", LLAMA_1B)
    assert tag_of(exo_sim, "ALPHA", LLAMA_1B) == "DownloadCompleted"
    exo_sim.client.post("/_sim/downloads/fail", json={
        "node": "BETA", "model_id": "mlx-community/DeepSeek-V3.1-8bit", "message": "HTTP 401"})
    pending = {"PipelineShardMetadata": entry(exo_sim, "ALPHA",
                                              "mlx-community/DeepSeek-V3.1-8bit")[1][
        "shardMetadata"]["PipelineShardMetadata"]}
    exo_sim.client.post("/download/start", json={"targetNodeId": exo_sim.node_id("BETA"),
                                                 "shardMetadata": pending})
    tag, fields = entry(exo_sim, "BETA", "mlx-community/DeepSeek-V3.1-8bit")
    assert (tag, fields["errorMessage"]) == ("DownloadFailed", "HTTP 401")


def test_delete_removes_the_files_and_the_count(exo_sim: RunningSim) -> None:
    alpha = exo_sim.node_id("ALPHA")
    response = exo_sim.client.delete(f"/download/{alpha}/{LLAMA_1B}")
    assert response.status_code == 200 and set(response.json()) == {"commandId"}
    tag, fields = entry(exo_sim, "ALPHA", LLAMA_1B)
    # exo's coordinator resets the entry with nothing counted until it rescans.
    assert tag == "DownloadPending"
    assert (fields["downloaded"], fields["total"]) == ({"inBytes": 0}, {"inBytes": 0})
    assert tag_of(exo_sim, "BETA", LLAMA_1B) == "DownloadCompleted"
    exo_sim.client.post("/_sim/rescan").raise_for_status()
    _, fields = entry(exo_sim, "ALPHA", LLAMA_1B)
    assert fields["total"] == {"inBytes": BUILT_IN[LLAMA_1B].storage_bytes}


def test_failed_download_reports_its_error_until_a_rescan(exo_sim: RunningSim) -> None:
    model = "mlx-community/DeepSeek-V3.1-8bit"
    response = exo_sim.client.post("/_sim/downloads/fail", json={
        "node": "BETA", "model_id": model, "message": "HTTP 401 from the hub"})
    assert response.status_code == 200
    tag, fields = entry(exo_sim, "BETA", model)
    assert (tag, fields["errorMessage"]) == ("DownloadFailed", "HTTP 401 from the hub")
    exo_sim.client.post("/_sim/rescan").raise_for_status()
    assert tag_of(exo_sim, "BETA", model) == "DownloadPending"


def test_download_routes_answer_whatever_the_node(exo_sim: RunningSim) -> None:
    assert exo_sim.client.post("/download/start", json={}).status_code == 422
    assert exo_sim.client.post("/download/cancel", json={"modelId": LLAMA_1B}).status_code == 422
    # exo only forwards these as commands: an unknown node is no error.
    unknown = exo_sim.client.post("/download/cancel", json={
        "targetNodeId": "nobody", "modelId": LLAMA_1B})
    assert unknown.status_code == 200
    assert exo_sim.client.delete(f"/download/nobody/{LLAMA_1B}").status_code == 200
    shapeless = exo_sim.client.post("/download/start", json={
        "targetNodeId": exo_sim.node_id("ALPHA"), "shardMetadata": {"PipelineShardMetadata": {}}})
    assert shapeless.status_code == 422


def write_copy(directory: Path, complete: bool) -> int:
    """A model copy as the panel downloads one: an index and the weight files it names."""
    directory.mkdir(parents=True)
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    (directory / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 200}, "weight_map": {"a": names[0], "b": names[1]}}))
    (directory / names[0]).write_bytes(b"x" * 100)
    if complete:
        (directory / names[1]).write_bytes(b"x" * 100)
    return sum(p.stat().st_size for p in directory.iterdir())


def test_a_rescan_finds_copies_in_the_models_directory(
    make_exo_sim: Callable[..., RunningSim], tmp_path: Path,
) -> None:
    base = tmp_path / "models"
    write_copy(base / "alpha" / "mlx-community--Meta-Llama-3.1-8B-Instruct-4bit", True)
    sim = make_exo_sim(models_base=base, downloaded={LLAMA_1B: []})
    tag, fields = entry(sim, "ALPHA", LLAMA_8B)
    assert tag == "DownloadCompleted"
    assert fields["modelDirectory"] == str(
        base / "alpha" / "mlx-community--Meta-Llama-3.1-8B-Instruct-4bit")
    assert tag_of(sim, "BETA", LLAMA_8B) == "DownloadPending"
    on_disk = write_copy(base / "beta" / "mlx-community--Meta-Llama-3.1-8B-Instruct-4bit",
                         False)
    assert entry(sim, "BETA", LLAMA_8B)[1]["downloaded"] == {"inBytes": 0}  # not looked yet
    sim.client.post("/_sim/rescan").raise_for_status()
    tag, fields = entry(sim, "BETA", LLAMA_8B)
    assert (tag, fields["downloaded"]) == ("DownloadPending", {"inBytes": on_disk})


def test_rescans_run_on_their_own(make_exo_sim: Callable[..., RunningSim], tmp_path: Path
                                  ) -> None:
    base = tmp_path / "models"
    sim = make_exo_sim(models_base=base, downloaded={LLAMA_1B: []}, rescan_interval=0.1)
    write_copy(base / "beta" / "mlx-community--Meta-Llama-3.1-8B-Instruct-4bit", True)
    sim.wait_for(lambda: tag_of(sim, "BETA", LLAMA_8B) == "DownloadCompleted")


def test_files_deleted_by_hand_leave_the_completed_entry_stale(
    make_exo_sim: Callable[..., RunningSim], tmp_path: Path,
) -> None:
    base = tmp_path / "models"
    copy = base / "alpha" / "mlx-community--Meta-Llama-3.1-8B-Instruct-4bit"
    write_copy(copy, True)
    sim = make_exo_sim(models_base=base, downloaded={LLAMA_1B: []})
    response = sim.client.delete(f"/_sim/nodes/ALPHA/files/{LLAMA_8B}")
    assert response.status_code == 200 and not copy.exists()
    sim.client.post("/_sim/rescan").raise_for_status()
    # exo never downgrades a completed entry (exo issue 1568)...
    assert tag_of(sim, "ALPHA", LLAMA_8B) == "DownloadCompleted"
    # ...until exo restarts and looks afresh.
    sim.client.post("/_sim/nodes/ALPHA/drop")
    sim.client.post("/_sim/nodes/ALPHA/revive")
    assert tag_of(sim, "ALPHA", LLAMA_8B) == "DownloadPending"


def test_delete_through_exo_removes_a_copy_in_the_models_directory(
    make_exo_sim: Callable[..., RunningSim], tmp_path: Path,
) -> None:
    base = tmp_path / "models"
    copy = base / "beta" / "mlx-community--Meta-Llama-3.1-8B-Instruct-4bit"
    write_copy(copy, True)
    sim = make_exo_sim(models_base=base)
    sim.client.delete(f"/download/{sim.node_id('BETA')}/{LLAMA_8B}").raise_for_status()
    assert not copy.exists() and (base / "beta").is_dir()
