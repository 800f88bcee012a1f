"""Download a catalogue model at a shell, with a terminal progress bar.

It is the same job the Download button starts, run in this process instead of on a worker:
it shows in the panel's jobs list, resumes what an earlier attempt left, and can be paused
or cancelled from the panel.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from arthur_panel.exceptions import DomainError
from cluster_app.jobs.services import job_execute
from cluster_app.models import Job
from models_app.catalogue.selectors import model_by_name
from models_app.downloads import jobs as downloads


class Command(BaseCommand):
    help = "Download a model from the catalogue to a node's models directory, with progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="slug, repo id or alias, e.g. llama-3.2-1b")
        parser.add_argument("--node", default=None,
                            help='node name or "all" (default: ALPHA, or every exo node for a '
                                 "tensor-parallel model)")

    def handle(self, *args: Any, model: str, node: str | None, **options: Any) -> None:
        found = model_by_name(model)
        if found is None:
            raise CommandError(f"No model '{model}' in the catalogue.")
        try:
            started = downloads.download_start(model=found, node_name=node, user=None,
                                               enqueue=False)
        except DomainError as error:
            raise CommandError(error.message) from None
        for job, created in started:
            if not created:
                raise CommandError(f"{found.display_name} is already downloading on "
                                   f"{job.node}: job {job.pk}.")
            self._run(job)

    def _run(self, job: Job) -> None:
        with tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=f"{job.node}", dynamic_ncols=True) as bar:
            def show(current: Job) -> None:
                bar.total = current.total or 0
                bar.n = current.done
                bar.set_postfix_str(current.message[-40:], refresh=False)
                bar.refresh()

            job_execute(job_id=job.pk, task_id="shell", listener=show)
        job.refresh_from_db()
        if job.state != Job.State.SUCCEEDED or job.result is None:
            raise CommandError(f"{job.kind} on {job.node} {job.state}: {job.error or job.message}")
        self.stdout.write(f"{job.node}: {job.result['files']} files in {job.result['path']}")
