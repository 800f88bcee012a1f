"""Celery entry points of the cluster poll, the GPU poll and the network poll (pinned names: see
cluster_app.jobs.tasks)."""

from __future__ import annotations

from celery import shared_task

from cluster_app.nodes import gpu_poll, net_poll, poll


@shared_task(name="cluster_app.tasks.cluster_poll_task", ignore_result=True, acks_late=False)
def cluster_poll_task() -> None:
    poll.cluster_poll_locked()


@shared_task(name="cluster_app.tasks.gpu_fanout_task", ignore_result=True, acks_late=False)
def gpu_fanout_task() -> None:
    gpu_poll.gpu_fanout()


@shared_task(name=gpu_poll.READ_TASK, ignore_result=True, acks_late=False)
def gpu_read_task(node_name: str) -> None:
    gpu_poll.gpu_read(node_name=node_name)


@shared_task(name="cluster_app.tasks.net_fanout_task", ignore_result=True, acks_late=False)
def net_fanout_task() -> None:
    net_poll.net_fanout()


@shared_task(name=net_poll.READ_TASK, ignore_result=True, acks_late=False)
def net_read_task(node_name: str) -> None:
    net_poll.net_read(node_name=node_name)
