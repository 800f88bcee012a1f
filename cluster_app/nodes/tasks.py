"""Celery entry point of the cluster poll (pinned name: see cluster_app.jobs.tasks)."""

from __future__ import annotations

from celery import shared_task

from cluster_app.nodes import poll


@shared_task(name="cluster_app.tasks.cluster_poll_task", ignore_result=True, acks_late=False)
def cluster_poll_task() -> None:
    poll.cluster_poll_locked()
