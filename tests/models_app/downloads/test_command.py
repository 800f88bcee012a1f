"""`manage.py download_model`: the same job, run at a shell with a progress bar."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cluster_app.models import Job, Node
from cluster_app.nodes.units import GIB
from models_app.catalogue.services import model_add_from_hub
from tests import stack as live

pytestmark = pytest.mark.django_db(transaction=True)


def test_downloads_with_a_progress_bar_and_records_the_job(hub, nodes, settings, tmp_path, capsys):
    settings.MODELS_DIR = tmp_path
    model = model_add_from_hub(repo_id="sim-org/tiny-4bit")
    out = StringIO()
    call_command("download_model", model.slug, "--node", "alpha", stdout=out)
    folder = tmp_path / "alpha" / "sim-org--tiny-4bit"
    assert out.getvalue().startswith("ALPHA: ") and str(folder) in out.getvalue()
    assert (folder / "config.json").exists() and not list(folder.rglob("*.partial"))
    job = Job.objects.get(kind="model.download")
    assert job.state == "succeeded" and job.celery_task_id == "shell"
    assert "ALPHA" in capsys.readouterr().err  # the progress bar, drawn on stderr
    assert job.done == job.total > 0


def test_unknown_model_and_refusals_are_clear(hub, nodes, guide_models, settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    with pytest.raises(CommandError, match="No model 'gpt-17'"):
        call_command("download_model", "gpt-17")
    # exo's own figure for a live node, whatever this machine's disk or another process says.
    # The live stack (if running, on this database) polls its exo and would write ALPHA's
    # figure over this one.
    with live.other_stacks_quiet():
        Node.objects.filter(name="alpha").update(status=Node.Status.ONLINE, disk_free=212 * GIB,
                                                 disk_total=1024 * GIB)
        with pytest.raises(CommandError, match="needs 712 GB, 212 GB free on ALPHA"):
            call_command("download_model", "deepseek-v3-8bit", "--node", "alpha")
