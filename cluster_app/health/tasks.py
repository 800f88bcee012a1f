"""Celery entry points of the health checks (pinned names: see cluster_app.jobs.tasks)."""

from __future__ import annotations

from celery import shared_task

from cluster_app.health import doctor, services


@shared_task(name="cluster_app.tasks.health_run_task", ignore_result=True, acks_late=False)
def health_run_task() -> None:
    services.health_run_periodic()


@shared_task(name=services.PROBE_TASK, ignore_result=True, acks_late=False)
def health_probe_task(node_name: str, reply_key: str, needed: list[dict] | None) -> None:
    services.health_probe_reply(node_name=node_name, reply_key=reply_key, needed=needed)


@shared_task(name="cluster_app.tasks.doctor_run_task", ignore_result=True, acks_late=False)
def doctor_run_task() -> None:
    doctor.doctor_run_periodic()


@shared_task(name=doctor.NODE_TASK, ignore_result=True, acks_late=False)
def doctor_node_task(node_name: str, reply_key: str) -> None:
    doctor.doctor_node_reply(node_name=node_name, reply_key=reply_key)
