"""Downloads through the real stack: a worker moving bytes from the hub simulator, pause and
resume inside a file, cancel, verification, a worker killed mid-download; exo given the card of
a model it does not know first, and told when a copy is deleted."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi
from websockets.sync.client import connect

from cluster_app.models import Job, Node
from models_app.catalogue.services import model_add_from_hub
from models_app.models import LlmModel
from tests.stack import Stack, api, start, stop, wait_for_worker, wait_until, worker_command

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
REPO = "sim-org/wide-4bit"


@pytest.fixture
def hub_sim(hub_endpoint, settings):
    settings.HF_ENDPOINT = hub_endpoint
    control = httpx.Client(base_url=f"{hub_endpoint}/_sim", timeout=10)
    control.delete("/faults")
    control.delete("/counters")
    yield control
    control.delete("/faults")
    control.put("/bandwidth", json={"bytes_per_second": None})
    control.close()


@pytest.fixture
def wide_model(hub_sim, nodes, live_stack, exo_built_in_cards):
    # Each test starts with no copy on any node (they share the stack's models directory).
    shutil.rmtree(live_stack.models_dir, ignore_errors=True)
    return model_add_from_hub(repo_id=REPO)


def listing(hub_endpoint: str) -> dict[str, Any]:
    info = HfApi(endpoint=hub_endpoint).model_info(REPO, files_metadata=True)
    return {s.rfilename: s for s in info.siblings}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_download(stack: Stack, token: str, slug: str, node: str) -> dict[str, Any]:
    with api(stack, token) as client:
        response = client.post(f"/api/v1/models/{slug}/download/", json={"node": node})
    assert response.status_code == 201, response.text
    (job,) = response.json()["jobs"]
    return job


def control(stack: Stack, token: str, job_id: int, action: str) -> None:
    with api(stack, token) as client:
        assert client.post(f"/api/v1/jobs/{job_id}/{action}/").status_code == 200


def follow(stack: Stack, token: str, job_id: int, until,
           timeout: float = 60.0) -> list[dict[str, Any]]:
    seen = []
    with connect(f"{stack.ws_url}/ws/jobs/{job_id}/",
                 additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        while True:
            job = json.loads(ws.recv(timeout=timeout))["job"]
            seen.append(job)
            if until(job):
                return seen


def ended(job: dict[str, Any]) -> bool:
    return job["state"] in ("succeeded", "failed")


def model_dir(stack: Stack, node: str) -> Path:
    return stack.models_dir / node / REPO.replace("/", "--")


def exo_card_ids(exo_url: str) -> set[str]:
    return {card["id"] for card in httpx.get(f"{exo_url}/models", timeout=10).json()["data"]}


def test_a_download_lands_where_exo_looks_with_verified_bytes(live_stack, alice_token, wide_model,
                                                             hub_endpoint, exo_url):
    assert REPO not in exo_card_ids(exo_url)
    job = start_download(live_stack, alice_token, wide_model.slug, "alpha")
    seen = follow(live_stack, alice_token, job["id"], ended)
    final = seen[-1]
    assert final["state"] == "succeeded", final
    # The first step gave exo the model's card, so exo lists (and can load) the copy.
    assert final["log_tail"][:2] == [f"exo has no card for {REPO}: adding it (POST /models/add)",
                                     f"exo added its card for {REPO}"]
    assert REPO in exo_card_ids(exo_url)
    assert final["done"] == final["total"] > 1024 * 1024 and final["unit"] == "bytes"
    running = [event["done"] for event in seen if event["state"] == "running"]
    assert len(running) >= 2 and running == sorted(running)  # in order, bytes never go down
    files = listing(hub_endpoint)
    folder = model_dir(live_stack, "alpha")
    assert final["result"]["path"] == str(folder)
    fetched = final["detail"]["files"]
    assert {n for n in fetched if n.endswith(".safetensors")} == {
        n for n in files if n.endswith(".safetensors")}
    assert {"config.json", "model.safetensors.index.json"} <= set(fetched)
    assert "README.md" not in fetched  # only what exo needs
    for name in fetched:
        sibling = files[name]
        if sibling.lfs:
            assert sha256(folder / name) == sibling.lfs.sha256, name
        else:
            assert (folder / name).stat().st_size == sibling.size, name
    assert not list(folder.rglob("*.partial"))
    assert final["detail"]["files_done"] == final["detail"]["files_total"] == len(fetched)


def test_a_card_exo_cannot_add_fails_the_download_with_exos_reason(live_stack, alice_token,
                                                                  nodes, exo_url):
    LlmModel.objects.create(slug="absent", display_name="Absent", repo_id="sim-org/absent-4bit",
                            size_bytes=10**6)
    job = start_download(live_stack, alice_token, "absent", "alpha")
    final = follow(live_stack, alice_token, job["id"], ended)[-1]
    assert final["state"] == "failed" and final["error_code"] == "exo_card_failed"
    assert final["error"].startswith("exo could not add a card for sim-org/absent-4bit: Failed to "
                                     "fetch model: ")
    assert not (live_stack.models_dir / "alpha" / "sim-org--absent-4bit").exists()


def exo_entry(exo_url: str, node: str, model_id: str) -> str:
    """The tag of exo's download entry for the model on the node (named as exo names it)."""
    state = httpx.get(f"{exo_url}/state", timeout=10).json()
    node_id = max((i for i, ident in state["nodeIdentities"].items()
                   if ident["friendlyName"] == node), key=lambda i: state["lastSeen"][i])
    for entry in state["downloads"][node_id]:
        ((tag, body),) = entry.items()
        (shard,) = body["shardMetadata"].values()
        if shard["modelCard"]["modelId"] == model_id:
            return str(tag)
    raise AssertionError(f"exo has no entry for {model_id} on {node}")


def test_deleting_a_copy_tells_exo_so_its_completed_entry_goes(live_stack, alice_token,
                                                               guide_models, nodes, exo_url):
    llama_8b = "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"
    assert exo_entry(exo_url, "BETA", llama_8b) == "DownloadCompleted"
    with api(live_stack, alice_token) as client:
        response = client.request("DELETE", "/api/v1/models/llama-3.1-8b/download/",
                                  json={"node": "beta"})
        assert response.status_code == 202, response.text
        job = wait_until(lambda: (j := client.get(f"/api/v1/jobs/{response.json()['id']}/")
                                  .json())["state"] in ("succeeded", "failed") and j)
    assert job["state"] == "succeeded", job
    assert job["result"]["exo_told"] is True
    assert any(line.startswith(f"told exo to delete {llama_8b} on BETA (node ")
               for line in job["log_tail"])
    assert exo_entry(exo_url, "BETA", llama_8b) == "DownloadPending"


def test_pause_keeps_the_bytes_and_resume_continues_inside_the_file(live_stack, alice_token,
                                                                  wide_model, hub_sim):
    hub_sim.put("/bandwidth", json={"bytes_per_second": 250_000})
    job = start_download(live_stack, alice_token, wide_model.slug, "beta")
    follow(live_stack, alice_token, job["id"],
           lambda j: j["state"] == "running" and j["done"] > 200_000)
    control(live_stack, alice_token, job["id"], "pause")
    paused = follow(live_stack, alice_token, job["id"], lambda j: j["state"] == "paused")[-1]
    partials = list(model_dir(live_stack, "beta").rglob("*.partial"))
    assert partials and partials[0].stat().st_size > 0  # the bytes stay

    hub_sim.delete("/counters")  # count only what the resumed job transfers
    hub_sim.put("/bandwidth", json={"bytes_per_second": None})
    control(live_stack, alice_token, job["id"], "resume")
    after = follow(live_stack, alice_token, job["id"], ended)
    final = after[-1]
    assert final["state"] == "succeeded" and paused["done"] < final["total"]
    # The resumed job starts from the bytes it had, not from zero...
    first_running = next(j for j in after if j["state"] == "running" and j["done"] > 0)
    assert first_running["done"] >= paused["done"] * 0.9
    # ...and fetched the rest of the paused file with a Range request.
    partial_name = partials[0].name.removesuffix(".partial")
    counters = hub_sim.get("/counters").json()["files"]
    assert counters[f"{REPO}/{partial_name}"]["ranged_get"] >= 1
    after_resume = sum(stats["bytes"] for stats in counters.values())
    assert after_resume <= final["total"] - paused["done"] * 0.9  # less than the whole
    assert after_resume < final["total"]


def test_cancel_stops_and_deletes_partial_files(live_stack, alice_token, wide_model, hub_sim):
    hub_sim.put("/bandwidth", json={"bytes_per_second": 200_000})
    job = start_download(live_stack, alice_token, wide_model.slug, "alpha")
    follow(live_stack, alice_token, job["id"],
           lambda j: j["state"] == "running" and j["done"] > 100_000)
    control(live_stack, alice_token, job["id"], "cancel")
    final = follow(live_stack, alice_token, job["id"],
                   lambda j: j["state"] not in ("queued", "running"))[-1]
    assert final["state"] == "cancelled"
    assert not list(model_dir(live_stack, "alpha").rglob("*.partial"))
    assert any("removed" in line for line in final["log_tail"])


def test_wrong_bytes_fail_the_job_and_leave_nothing_corrupt(live_stack, alice_token, wide_model,
                                                           hub_sim):
    hub_sim.post("/faults", json={"kind": "corrupt", "path": "model-00002-of-00003.safetensors"})
    job = start_download(live_stack, alice_token, wide_model.slug, "beta")
    final = follow(live_stack, alice_token, job["id"], ended)[-1]
    assert final["state"] == "failed" and "sha256" in final["error"]
    assert "model-00002-of-00003.safetensors" in final["error"]
    shard = model_dir(live_stack, "beta") / "model-00002-of-00003.safetensors"
    assert not shard.exists() and not Path(f"{shard}.partial").exists()


def test_a_dropped_connection_is_retried_and_resumed(live_stack, alice_token, wide_model, hub_sim):
    hub_sim.post("/faults", json={"kind": "drop", "path": "model-00003-of-00003.safetensors",
                                  "after_bytes": 100_000, "times": 2})
    job = start_download(live_stack, alice_token, wide_model.slug, "alpha")
    final = follow(live_stack, alice_token, job["id"], ended)[-1]
    assert final["state"] == "succeeded", final
    stats = hub_sim.get("/counters").json()["files"][f"{REPO}/model-00003-of-00003.safetensors"]
    assert stats["ranged_get"] >= 2  # each retry asked for the rest of the file, not all of it


def test_hub_errors_past_the_retries_fail_with_a_message(live_stack, alice_token, wide_model,
                                                       hub_sim):
    hub_sim.post("/faults", json={"kind": "error", "path": "model-00001-of-00003.safetensors",
                                  "status": 503, "methods": ["GET"], "times": None})
    job = start_download(live_stack, alice_token, wide_model.slug, "alpha")
    final = follow(live_stack, alice_token, job["id"], ended)[-1]
    assert final["state"] == "failed"
    assert "model-00001-of-00003.safetensors" in final["error"]
    assert "gave up after 3 retries" in final["error"]


def test_hub_errors_within_the_retries_are_retried_to_success(live_stack, alice_token, wide_model,
                                                             hub_sim):
    hub_sim.post("/faults", json={"kind": "error", "path": "model-00001-of-00003.safetensors",
                                  "status": 503, "methods": ["GET"], "times": 2})
    job = start_download(live_stack, alice_token, wide_model.slug, "alpha")
    final = follow(live_stack, alice_token, job["id"], ended)[-1]
    assert final["state"] == "succeeded", final


def test_a_worker_killed_mid_download_loses_nothing(live_stack, alice_token, wide_model, hub_sim,
                                                   hub_endpoint):
    Node.objects.create(name="delta", display_name="DELTA", ram_bytes=64 * 1024**3,
                        in_exo_cluster=False, models_dir=str(live_stack.models_dir / "delta"))
    env = {**live_stack.env, "WORKER_NODES": "delta"}
    logs = live_stack.log_dir
    first = start(worker_command("node.delta"), env, logs / "delta-1.log")
    wait_for_worker(env, logs / "delta-1.log")
    hub_sim.put("/bandwidth", json={"bytes_per_second": 300_000})
    job = start_download(live_stack, alice_token, wide_model.slug, "delta")
    follow(live_stack, alice_token, job["id"],
           lambda j: (j["detail"] or {}).get("files_done", 0) >= 2)
    os.killpg(first.pid, signal.SIGKILL)  # the whole worker, children and all
    first.wait()
    folder = live_stack.models_dir / "delta" / REPO.replace("/", "--")
    complete = [p.name for p in folder.iterdir() if ".partial" not in p.name]
    gets = hub_sim.get("/counters").json()["files"]
    done_before = {name: gets[f"{REPO}/{name}"]["get"] for name in complete}
    assert Job.objects.get(pk=job["id"]).state == "running"  # nobody has noticed yet

    hub_sim.put("/bandwidth", json={"bytes_per_second": None})
    second = start(worker_command("node.delta"), env, logs / "delta-2.log")
    try:
        wait_for_worker(env, logs / "delta-2.log")
        final = wait_until(lambda: (j := Job.objects.get(pk=job["id"])).state
                           in ("succeeded", "failed") and j, timeout=60)
    finally:
        stop(second)
    assert final.state == "succeeded", final.error
    assert final.attempts == 2
    files = listing(hub_endpoint)
    for name, sibling in files.items():
        if sibling.lfs and name.endswith(".safetensors"):
            assert sha256(folder / name) == sibling.lfs.sha256, name
    after = hub_sim.get("/counters").json()["files"]
    # Files complete before the kill were never fetched again.
    assert len(done_before) >= 2
    assert {name: after[f"{REPO}/{name}"]["get"] for name in done_before} == done_before
