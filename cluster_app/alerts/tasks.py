"""Celery entry points of the alerts (pinned names: see cluster_app.jobs.tasks)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from cluster_app.alerts import delivery, services


@shared_task(name="cluster_app.tasks.alerts_evaluate_task", ignore_result=True, acks_late=False)
def alerts_evaluate_task() -> None:
    services.alerts_evaluate_locked()


@shared_task(name=delivery.DELIVER_TASK, bind=True, ignore_result=True, max_retries=None)
def alert_deliver_task(self: Any, delivery_id: int) -> None:
    retry_in = delivery.delivery_send(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(name="cluster_app.tasks.alerts_prune_task", ignore_result=True, acks_late=False)
def alerts_prune_task() -> None:
    services.alerts_prune()
