from __future__ import annotations

from celery import shared_task
from django.conf import settings

from cluster_app import exo_jobs, health, jobs, poll


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


@shared_task(ignore_result=True, acks_late=False)
def health_run_task() -> None:
    health.health_run_periodic()


@shared_task(ignore_result=True, acks_late=False)
def health_probe_task(node_name: str, reply_key: str, needed: list[dict] | None) -> None:
    health.health_probe_reply(node_name=node_name, reply_key=reply_key, needed=needed)


@shared_task(ignore_result=True, acks_late=False)
def exo_status_fanout_task() -> None:
    exo_jobs.exo_status_fanout()


@shared_task(ignore_result=True, acks_late=False)
def exo_status_task(node_name: str) -> None:
    exo_jobs.exo_status_refresh(node_name=node_name)
