"""Celery entry points of the job machinery. Names are pinned (the old module path), so
messages queued before an upgrade still find their task."""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings

from cluster_app.audit.services import audit_prune
from cluster_app.jobs import services


@shared_task(name=services.RUN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def job_run_task(self: Task, job_id: int) -> None:
    services.job_execute(job_id=job_id, task_id=self.request.id or "")


@shared_task(name="cluster_app.tasks.jobs_recover_task")
def jobs_recover_task() -> int:
    return services.jobs_recover()


@shared_task(name="cluster_app.tasks.jobs_prune_task")
def jobs_prune_task() -> int:
    """Prunes old jobs, and old audit entries with them; returns how many jobs went."""
    audit_prune(days=settings.AUDIT_RETENTION_DAYS)
    return services.jobs_prune(days=settings.JOB_RETENTION_DAYS)
