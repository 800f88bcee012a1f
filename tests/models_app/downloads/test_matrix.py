"""The Downloads page's model x node matrix, built straight from jobs and the latest poll: which
source wins each cell, and how exo's own download states read."""

from __future__ import annotations

import pytest

from cluster_app.models import Job
from cluster_app.nodes.poll import keep_snapshot
from models_app.downloads.jobs import DELETE, DOWNLOAD
from models_app.downloads.matrix import downloads_matrix

pytestmark = pytest.mark.django_db
LLAMA = "mlx-community/Llama-3.2-1B-Instruct-4bit"


def cell(slug: str, node: str) -> dict:
    row = next(r for r in downloads_matrix()["models"] if r["slug"] == slug)
    return row["cells"][node]


def exo_reports(*downloads: dict) -> None:
    keep_snapshot({"reachable": True, "downloads": list(downloads)})


def exo_download(status: str, node: str = "alpha", **fields) -> dict:
    return {"model_id": LLAMA, "node": node, "status": status, "downloaded": 0, "total": 100,
            "speed": None, "eta_ms": None, "error": None, **fields}


def job(kind: str, node, state: str, **fields) -> Job:
    return Job.objects.create(kind=kind, node=node, state=state,
                              params={"model": "llama-3.2-1b", "repo_id": LLAMA}, **fields)


def test_nothing_known_is_absent_on_every_exo_node(nodes, guide_models):
    matrix = downloads_matrix()
    assert [n["name"] for n in matrix["nodes"]] == ["alpha", "beta"]  # gamma is not in exo
    assert all(c == {"source": None, "state": "absent"}
               for row in matrix["models"] for c in row["cells"].values())
    assert [r["slug"] for r in matrix["models"]][0] == "deepseek-v3-8bit"  # largest first


def test_an_active_panel_job_wins_over_what_exo_says(nodes, guide_models):
    job(DOWNLOAD, nodes["alpha"], Job.State.RUNNING, done=40, total=100, progress=0.4)
    exo_reports(exo_download("ongoing", downloaded=20))
    got = cell("llama-3.2-1b", "alpha")
    assert (got["source"], got["state"], got["progress"]) == ("panel", "running", 0.4)


def test_after_the_job_exo_has_the_last_word(nodes, guide_models):
    job(DOWNLOAD, nodes["alpha"], Job.State.SUCCEEDED, done=100, total=100, progress=1.0)
    exo_reports(exo_download("completed", downloaded=100))
    assert (cell("llama-3.2-1b", "alpha")["source"], cell("llama-3.2-1b", "alpha")["state"]) == (
        "exo", "completed")


def test_a_finished_job_exo_does_not_know_about_shows_as_the_job(nodes, guide_models):
    job(DOWNLOAD, nodes["beta"], Job.State.FAILED, error="disk full")
    got = cell("llama-3.2-1b", "beta")
    assert (got["source"], got["state"], got["message"]) == ("panel", "failed", "disk full")


@pytest.mark.parametrize(("state", "shown"), [(Job.State.SUCCEEDED, "deleted"),
                                              (Job.State.RUNNING, "delete running"),
                                              (Job.State.FAILED, "delete failed")])
def test_a_delete_shows_as_a_delete_even_when_exo_still_lists_the_copy(nodes, guide_models,
                                                                       state, shown):
    job(DELETE, nodes["alpha"], state)
    exo_reports(exo_download("completed", downloaded=100))
    assert cell("llama-3.2-1b", "alpha")["state"] == shown


def test_exos_pending_entry_is_absent_unless_bytes_are_on_disk(nodes, guide_models):
    exo_reports(exo_download("pending"), exo_download("pending", node="beta", downloaded=25))
    assert cell("llama-3.2-1b", "alpha") == {"source": None, "state": "absent"}
    paused = cell("llama-3.2-1b", "beta")
    assert (paused["state"], paused["progress"], paused["done"]) == ("paused", 0.25, 25)


def test_exos_ongoing_download_has_its_speed_and_eta(nodes, guide_models):
    exo_reports(exo_download("ongoing", downloaded=50, speed=2e6, eta_ms=25_000))
    got = cell("llama-3.2-1b", "alpha")
    assert (got["state"], got["speed"], got["eta_seconds"]) == ("ongoing", 2e6, 25.0)
