"""A disk that fills in the middle of a download, on a small filesystem of its own (a tmpfs in
a mount namespace: no root needed): the job fails saying so, what arrived stays in the .partial
files (with their records) for a resume, and no file reaches its final name unverified."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from arthur_panel.launcher import ROOT
from cluster_app.models import Job
from models_app.catalogue.hub import repo_metadata
from models_app.catalogue.services import model_add_from_hub
from models_app.downloads.jobs import file_specs
from tests import stack as live

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
PAGE = 4096  # a tmpfs hands out whole pages


def test_a_disk_that_fills_mid_download_fails_the_job_and_keeps_the_partial(
        hub, exo_url, nodes, tmp_path):
    model = model_add_from_hub(repo_id="sim-org/wide-4bit")
    files = file_specs(repo_metadata(model.repo_id, files_only=True))
    needed = sum(spec.size for spec in files)
    # Room for every byte, so the check before the download passes; but each file takes whole
    # pages, so the disk fills on the way.
    size = -(-needed // PAGE) * PAGE
    models = tmp_path / "models"
    models.mkdir()
    script = (f"mount -t tmpfs -o size={size} tmpfs {models} && "
              f"{{ {sys.executable} manage.py download_model {model.slug} --node alpha; "
              f"echo exit=$?; find {models} -type f -printf 'file %P %s\\n'; }}")
    env = live.stack_env(live.stack_database_url(), exo_url, hub, models)
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "exit=1" in done.stdout, done.stdout + done.stderr
    job = Job.objects.get(kind="model.download")
    assert job.state == "failed"
    assert job.error.startswith("disk full on ALPHA: needs "), job.error
    assert job.error.endswith("free; the partial files are kept for a resume")
    # The sizes are small here: said in their unit, never as "0 GB".
    assert re.search(r"needs \d[\d.]* [KM]?B more, has \d[\d.]* [KM]?B free", job.error), job.error
    on_disk = {path: int(size) for _, path, size in
               (line.split() for line in done.stdout.splitlines() if line.startswith("file "))}
    partials = {path.removesuffix(".partial") for path in on_disk if path.endswith(".partial")}
    # Several files were under way at once: each kept its bytes and its record of them.
    assert partials and all(f"{name}.partial.json" in on_disk for name in partials), on_disk
    assert any(on_disk[f"{name}.partial"] for name in partials)
    # Every file under its final name is whole; none that did not fit is among them.
    sizes = {f"alpha/sim-org--wide-4bit/{spec.path}": spec.size for spec in files}
    finals = {path: size for path, size in on_disk.items() if ".partial" not in path}
    assert all(sizes[path] == size for path, size in finals.items())
    assert not partials & set(finals)
