from __future__ import annotations

from celery import shared_task
from django.conf import settings

from cluster_app import jobs, poll


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def job_run_task(self, job_id: int) -> None:  # type: ignore[no-untyped-def]
    jobs.job_execute(job_id=job_id, task_id=self.request.id or "")


@shared_task
def jobs_recover_task() -> int:
    return jobs.jobs_recover()


@shared_task
def jobs_prune_task() -> int:
    return jobs.jobs_prune(days=settings.JOB_RETENTION_DAYS)


@shared_task(ignore_result=True, acks_late=False)
def cluster_poll_task() -> None:
    poll.cluster_poll_locked()
