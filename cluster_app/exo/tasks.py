"""Celery entry points of exo's process status (pinned names: see cluster_app.jobs.tasks)."""

from __future__ import annotations

from celery import shared_task

from cluster_app.exo import node_jobs


@shared_task(name="cluster_app.tasks.exo_status_fanout_task", ignore_result=True,
             acks_late=False)
def exo_status_fanout_task() -> None:
    node_jobs.exo_status_fanout()


@shared_task(name=node_jobs.STATUS_TASK, ignore_result=True, acks_late=False)
def exo_status_task(node_name: str) -> None:
    node_jobs.exo_status_refresh(node_name=node_name)
